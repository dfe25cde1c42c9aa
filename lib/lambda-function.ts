import { fileURLToPath } from "node:url";
import { Duration, RemovalPolicy } from "aws-cdk-lib";
import { Architecture, LoggingFormat, Runtime } from "aws-cdk-lib/aws-lambda";
import { NodejsFunction, OutputFormat } from "aws-cdk-lib/aws-lambda-nodejs";
import { LogGroup, RetentionDays } from "aws-cdk-lib/aws-logs";
import type { Construct } from "constructs";

export const PROJECT_ROOT = fileURLToPath(new URL("../", import.meta.url));

/**
 * sharp's linux-arm64 build, installed by `npm ci` (the root `postinstall`) into
 * `lambdas/bundle-deps/`: synth copies it into the worker's bundle instead of downloading it, so a
 * synth makes no network call and the bundle carries exactly Lambda's Linux binaries.
 */
export const LAMBDA_NATIVE_MODULES_DIR = `${PROJECT_ROOT}lambdas/bundle-deps/node_modules`;

export interface PixelLabFunctionProps {
  /** Path under `lambdas/handlers/`, without `.ts`. */
  handler: string;
  environment: Record<string, string>;
  memorySize?: number;
  timeout?: Duration;
  /** Bundle sharp's Lambda (linux-arm64) binaries beside the code. */
  withSharp?: boolean;
  /** Extra files to place beside the bundle (source path → file name). */
  extraFiles?: string[];
}

/**
 * Every Lambda the same way: Node.js 24 on arm64 (Graviton: cheaper per GB-second and sharp ships
 * arm64 binaries), an ESM bundle made by the local esbuild (no Docker), JSON logs into a log group
 * with a retention, and Powertools configured through the environment.
 */
export const pixelLabFunction = (
  scope: Construct,
  id: string,
  props: PixelLabFunctionProps,
): NodejsFunction => {
  const logGroup = new LogGroup(scope, `${id}Logs`, {
    retention: RetentionDays.ONE_MONTH,
    removalPolicy: RemovalPolicy.DESTROY,
  });
  const copies = [
    ...(props.withSharp ? [`cp -R ${LAMBDA_NATIVE_MODULES_DIR} {out}/node_modules`] : []),
    ...(props.extraFiles ?? []).map((file) => `cp ${PROJECT_ROOT}${file} {out}/`),
  ];
  return new NodejsFunction(scope, id, {
    entry: `${PROJECT_ROOT}lambdas/handlers/${props.handler}.ts`,
    handler: "handler",
    runtime: Runtime.NODEJS_24_X,
    architecture: Architecture.ARM_64,
    memorySize: props.memorySize ?? 512,
    timeout: props.timeout ?? Duration.seconds(29),
    logGroup,
    loggingFormat: LoggingFormat.JSON,
    environment: {
      POWERTOOLS_SERVICE_NAME: "pixel-lab",
      POWERTOOLS_METRICS_NAMESPACE: "PixelLab",
      POWERTOOLS_LOG_LEVEL: "INFO",
      NODE_OPTIONS: "--enable-source-maps",
      ...props.environment,
    },
    depsLockFilePath: `${PROJECT_ROOT}package-lock.json`,
    projectRoot: PROJECT_ROOT,
    bundling: {
      format: OutputFormat.ESM,
      target: "node24",
      mainFields: ["module", "main"],
      sourceMap: true,
      // Stack traces need names and lines, not the sources themselves: halves the map.
      sourcesContent: false,
      minify: true,
      // The AWS SDK is bundled too: the versions tested are the versions deployed.
      externalModules: ["sharp"],
      // CommonJS dependencies (mysql2) call require(); ESM output needs it defined.
      banner: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
      forceDockerBundling: false,
      commandHooks: {
        beforeBundling: () => [],
        beforeInstall: () => [],
        afterBundling: (_inputDir: string, outputDir: string) =>
          copies.map((command) => command.replaceAll("{out}", outputDir)),
      },
    },
  });
};
