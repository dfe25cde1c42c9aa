import { logger } from "../lambdas/adapters/logger.ts";
import { LOCAL_IDENTITY } from "../lambdas/names.ts";
import { redactUrl, StartupError } from "../local/database.ts";
import { type LocalStack, startLocalStack } from "../local/stack.ts";
import { ensureDashboardBuilt } from "../web/build.ts";

/** A problem a person can fix gets what was tried, why it failed and what to do; not a stack trace. */
const explain = (error: unknown): string => {
  if (error instanceof StartupError) {
    const [first, ...more] = error.fixes;
    return [
      "",
      `${error.message.split(":")[0]}.`,
      `  tried   ${error.tried}`,
      `  reason  ${error.reason}`,
      ...(error.details ? ["  log", ...error.details.split("\n").map((line) => `    ${line}`)] : []),
      `  fix     ${first ?? ""}`,
      ...more.map((fix) => `          ${fix}`),
      "",
    ].join("\n");
  }
  const message = error instanceof Error ? error.message : String(error);
  return `\nnpm start stopped: ${message}\n  \`npm run doctor\` checks the configuration and every dependency.\n`;
};

// The dashboard is built here, not by a separate step, so `npm ci && npm start` is the whole set-up. A build
// that fails leaves the API running: the banner says so and how to see why.
let dashboardProblem: string | undefined;
try {
  await ensureDashboardBuilt((reason) => process.stdout.write(`Building the dashboard (${reason})…\n`));
} catch (error) {
  dashboardProblem = error instanceof Error ? error.message : String(error);
  process.stderr.write(`\nThe dashboard could not be built; the API runs without it.\n${dashboardProblem}\n`);
}

let stack: LocalStack;
try {
  stack = await startLocalStack();
} catch (error) {
  process.stderr.write(explain(error));
  process.exit(1);
}

process.stdout.write(
  [
    "",
    "Pixel Lab local stack is running",
    dashboardProblem
      ? "  dashboard not built (see above; `npm run web:build` shows the error)"
      : `  dashboard ${stack.dashboardUrl}   (development sign-in: a seller or a reviewer, any name)`,
    `  API       ${stack.apiUrl}   (try: curl ${stack.apiUrl}/health)`,
    `  images    ${stack.assetsBaseUrl}/enhanced/...`,
    `  S3 + SQS  ${stack.s3Endpoint}   (fauxqs)`,
    `  uploads   ${stack.uploadsUrl}   (presigned POSTs: the emulator behind S3's CORS rule)`,
    `  database  ${redactUrl(stack.databaseUrl)}`,
    `            handlers sign in as ${stack.databaseUser} (data only); migrations ran as the admin`,
    `            server: ${stack.databaseSource}`,
    `  state     ${stack.dataDir}   (the token signing key is kept here)`,
    `  sign-in   every route but /health and /openapi.json takes a bearer token; mint one with`,
    "              npm run -s token -- --seller alice       (or --reviewer bob)",
    `            e.g. curl -H "Authorization: Bearer $(npm run -s token -- --seller alice)" ${stack.apiUrl}/products`,
    `            keys: ${stack.apiUrl}${LOCAL_IDENTITY.jwksPath}   API description: ${stack.apiUrl}/openapi.json`,
    "Upload photos with `npm run demo` in another terminal. Ctrl-C stops (in-flight photos finish first).",
    "",
  ].join("\n"),
);

let signals = 0;
const shutdown = (signal: string) => {
  signals += 1;
  if (signals > 1) {
    logger.warn("second signal: exiting without waiting; unfinished messages return to the queue", {
      signal,
    });
    process.exit(130);
  }
  logger.info("stopping: finishing in-flight work", { signal });
  stack.stop().then(
    () => process.exit(0),
    (error: unknown) => {
      logger.error("could not stop cleanly", { error: String(error) });
      process.exit(1);
    },
  );
};
process.on("SIGINT", () => shutdown("SIGINT"));
process.on("SIGTERM", () => shutdown("SIGTERM"));
