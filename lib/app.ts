import { App, type Environment, Validations } from "aws-cdk-lib";
import { AwsSolutionsChecks } from "cdk-nag";
import { acknowledgeFindings } from "./nag-acknowledgments.ts";
import { AppStack, DataStack, type PixelLabSettings } from "./stacks.ts";

export interface PixelLabApp {
  app: App;
  data: DataStack;
  application: AppStack;
}

/** The whole deployment for one stage, checked by cdk-nag's AWS Solutions pack on synth. */
export const buildApp = (
  settings: PixelLabSettings,
  options: { app?: App; env?: Environment } = {},
): PixelLabApp => {
  const app = options.app ?? new App();
  const props = options.env ? { env: options.env } : {};
  const data = new DataStack(app, `PixelLab-${settings.stage}-Data`, settings, props);
  const application = new AppStack(app, `PixelLab-${settings.stage}-App`, settings, data, props);
  application.addDependency(data);
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  acknowledgeFindings(data, application);
  return { app, data, application };
};
