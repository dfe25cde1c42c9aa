import { logger } from "../lambdas/adapters/logger.ts";
import { startLocalStack } from "../local/stack.ts";

const stack = await startLocalStack();

process.stdout.write(
  [
    "",
    "Pixel Lab local stack is running",
    `  API       ${stack.apiUrl}   (try: curl ${stack.apiUrl}/health)`,
    `  images    ${stack.assetsBaseUrl}/enhanced/...`,
    `  S3 + SQS  ${stack.s3Endpoint}   (fauxqs; presigned POSTs go here)`,
    `  database  ${stack.databaseUrl.replace(/\/\/([^:@/]+):[^@/]*@/, "//$1:***@")}`,
    `  state     ${stack.dataDir}`,
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
