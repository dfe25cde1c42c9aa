import type { IQueue } from "aws-cdk-lib/aws-sqs";
import { ENV } from "../lambdas/names.ts";
import type { Database } from "./database.ts";
import { DATABASE_NAME } from "./database.ts";
import type { Storage } from "./storage.ts";

/**
 * What every handler reads from its environment in AWS (the names come from `lambdas/names.ts`). The
 * Data API signs in with the app user's secret; the migration function alone swaps in the admin's.
 */
export const runtimeEnvironment = (
  stage: string,
  storage: Storage,
  queue: IQueue,
  database: Database,
): Record<string, string> => {
  return {
    [ENV.stage]: stage,
    [ENV.rawBucket]: storage.rawBucket.bucketName,
    [ENV.enhancedBucket]: storage.enhancedBucket.bucketName,
    [ENV.enhanceQueueUrl]: queue.queueUrl,
    [ENV.assetsBaseUrl]: storage.assetsBaseUrl,
    [ENV.databaseClusterArn]: database.cluster.clusterArn,
    [ENV.databaseSecretArn]: database.appSecret.secretArn,
    [ENV.databaseName]: DATABASE_NAME,
    [ENV.allowedOrigins]: storage.allowedOrigins.join(","),
  };
};
