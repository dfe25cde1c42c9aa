import { App } from "aws-cdk-lib";
import { parseAllowedOrigins } from "../lambdas/config.ts";
import { buildApp } from "../lib/app.ts";
import { GEMINI_TUNING_KEYS, type GeminiTuning } from "../lib/gemini-key.ts";
import { ensureDashboardBuilt } from "../web/build.ts";

// The application stack uploads web/dist: build it first when it is missing or older than web/src.
await ensureDashboardBuilt((reason) => process.stderr.write(`Building the dashboard (${reason})…\n`));

const app = new App();
const context = (key: string): string | undefined => app.node.tryGetContext(key) ?? undefined;

/** `-c allowedOrigins=https://a,https://b`; unset, the stage's CloudFront URL (see lib/storage.ts). */
const allowedOrigins = (): string[] | undefined => {
  const text = context("allowedOrigins");
  if (text === undefined) return undefined;
  const parsed = parseAllowedOrigins(text);
  if ("problem" in parsed) throw new Error(`-c allowedOrigins: ${parsed.problem}`);
  return parsed.origins;
};

/**
 * `-c dashboardUrls=https://a/,https://b/`: the dashboard's base URLs; managed login returns to each one's
 *   `auth/callback` after sign-in and to the URL itself after sign-out;
 * unset, each allowed origin followed by `/` (see lib/stacks.ts). lib/identity.ts refuses a non-HTTPS URL.
 */
const dashboardUrls = (): string[] | undefined =>
  context("dashboardUrls")
    ?.split(",")
    .map((url) => url.trim())
    .filter((url) => url !== "");

/**
 * `-c geminiImageModel=…`, and likewise geminiAnalysisModel, geminiAiVariants, geminiCallTimeoutMs,
 * geminiBudgetSeconds and geminiConcurrency: the worker's Gemini tuning; each unset one keeps the runtime's
 * default. The API key is never context: it lives in its secret (output GeminiApiKeySecretArn).
 */
const geminiTuning = (): GeminiTuning | undefined => {
  const entries = GEMINI_TUNING_KEYS.flatMap((key) => {
    const value = context(key);
    return value === undefined ? [] : [[key, String(value)]];
  });
  return entries.length > 0 ? Object.fromEntries(entries) : undefined;
};

const origins = allowedOrigins();
const tuning = geminiTuning();
const urls = dashboardUrls();
buildApp(
  {
    stage: context("stage") ?? "dev",
    ...(origins ? { allowedOrigins: origins } : {}),
    ...(urls ? { dashboardUrls: urls } : {}),
    ...(context("alarmEmail") ? { alarmEmail: context("alarmEmail") as string } : {}),
    ...(tuning ? { geminiTuning: tuning } : {}),
  },
  {
    app,
    ...(process.env.CDK_DEFAULT_ACCOUNT
      ? { env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION } }
      : {}),
  },
);
