/**
 * Wiring for the Lambda entry points: configuration read once, clients built once per process
 * (per cold start), and handed to the domain. Tests build their own deps instead.
 */
import { RDSDataClient } from "@aws-sdk/client-rds-data";
import { createConnectionStore } from "../adapters/connection-store.ts";
import { createDataApiDb, createMysqlDb, type Db } from "../adapters/database.ts";
import { createGeminiStatus } from "../adapters/gemini-status.ts";
import { logger } from "../adapters/logger.ts";
import { createObjectStore, createS3Client } from "../adapters/object-store.ts";
import { createProductRepository } from "../adapters/product-repository.ts";
import { createPushChannel } from "../adapters/push-channel.ts";
import { createEnhanceQueue, createSqsClient } from "../adapters/queue.ts";
import { createTokenVerifier } from "../adapters/token-verifier.ts";
import { type Config, loadConfig } from "../config.ts";
import type { ApiDeps } from "../domain/products.ts";
import { type ChangePublisher, createChangePublisher } from "../domain/push.ts";
import type { ReconcileDeps } from "../domain/reconcile.ts";
import { PUSH, RECONCILE_SETTINGS } from "../names.ts";

let config: Config | undefined;
let db: Db | undefined;

export const processConfig = (): Config => {
  config ??= loadConfig();
  return config;
};

/** Aurora through the RDS Data API when `DATABASE_CLUSTER_ARN` is set (AWS), else mysql2 at `DATABASE_URL`. */
export const processDb = (): Db => {
  if (db) return db;
  const cfg = processConfig();
  db = cfg.dataApi
    ? createDataApiDb({
        client: new RDSDataClient({ region: cfg.region, endpoint: cfg.dataApi.endpoint }),
        resourceArn: cfg.dataApi.resourceArn,
        secretArn: cfg.dataApi.secretArn,
        database: cfg.dataApi.database,
      })
    : createMysqlDb(cfg.databaseUrl);
  return db;
};

let publisher: ChangePublisher | undefined;

/** Push to open dashboards when the WebSocket API's endpoint is configured; else none (the feed alone). */
export const processPublisher = (): ChangePublisher | undefined => {
  const cfg = processConfig();
  if (cfg.pushEndpoint === undefined) return undefined;
  publisher ??= createChangePublisher({
    repository: createProductRepository(processDb()),
    connections: createConnectionStore(processDb()),
    channel: createPushChannel({ endpoint: cfg.pushEndpoint, region: cfg.region }),
    assetsBaseUrl: cfg.assetsBaseUrl,
    clock: () => new Date(),
    log: logger,
    maxConnectionSeconds: PUSH.maxConnectionSeconds,
    concurrency: PUSH.postConcurrency,
  });
  return publisher;
};

export const apiDepsFromEnvironment = (): ApiDeps => {
  const cfg = processConfig();
  const s3 = createS3Client({ region: cfg.region, endpoint: cfg.s3Endpoint });
  const publicS3 =
    cfg.s3PublicEndpoint === cfg.s3Endpoint
      ? s3
      : createS3Client({ region: cfg.region, endpoint: cfg.s3PublicEndpoint });
  return {
    tokens: createTokenVerifier(cfg.identity),
    aiStatus: cfg.gemini.key
      ? createGeminiStatus({
          key: cfg.gemini.key,
          baseUrl: cfg.gemini.baseUrl,
          analysisModel: cfg.gemini.analysisModel,
          region: cfg.region,
        })
      : undefined,
    repository: createProductRepository(processDb()),
    objectStore: createObjectStore(s3, publicS3),
    queue: createEnhanceQueue(
      createSqsClient({ region: cfg.region, endpoint: cfg.sqsEndpoint }),
      cfg.enhanceQueueUrl,
    ),
    settings: cfg,
    clock: () => new Date(),
    push: processPublisher(),
  };
};

export const reconcilerDepsFromEnvironment = (): ReconcileDeps => {
  const cfg = processConfig();
  return {
    repository: createProductRepository(processDb()),
    objectStore: createObjectStore(createS3Client({ region: cfg.region, endpoint: cfg.s3Endpoint })),
    queue: createEnhanceQueue(
      createSqsClient({ region: cfg.region, endpoint: cfg.sqsEndpoint }),
      cfg.enhanceQueueUrl,
    ),
    settings: { rawBucket: cfg.rawBucket, region: cfg.region, ...RECONCILE_SETTINGS },
    clock: () => new Date(),
    log: logger,
    push: processPublisher(),
  };
};

/** Closes the process's database pool (the local stack on shutdown; Lambda never needs to). */
export const closeRuntime = async (): Promise<void> => {
  await db?.destroy();
  db = undefined;
  publisher = undefined;
};

/** The process's database handle, for handlers that use Kysely directly (the migration runner). */
export const databaseFromEnvironment = (): Db => processDb();
