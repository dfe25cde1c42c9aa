import { App } from "aws-cdk-lib";
import { buildApp } from "../lib/app.ts";

const app = new App();
const context = (key: string): string | undefined => app.node.tryGetContext(key) ?? undefined;

buildApp(
  {
    stage: context("stage") ?? "dev",
    allowedOrigins: (context("allowedOrigins") ?? "*").split(",").map((origin) => origin.trim()),
    ...(context("alarmEmail") ? { alarmEmail: context("alarmEmail") as string } : {}),
  },
  {
    app,
    ...(process.env.CDK_DEFAULT_ACCOUNT
      ? { env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION } }
      : {}),
  },
);
