import { mkdir } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { resolve } from "node:path";
import type { APIGatewayProxyEventV2 } from "aws-lambda";
import { startFauxqs } from "fauxqs";
import { z } from "zod";
import { logger } from "../lambdas/adapters/logger.ts";
import { createS3Client } from "../lambdas/adapters/object-store.ts";
import { createSqsClient } from "../lambdas/adapters/queue.ts";
import { loadConfig } from "../lambdas/config.ts";
import { ENHANCE_QUEUE_SETTINGS, ENV, PUSH, QUEUES, ROUTES, resourceName } from "../lambdas/names.ts";
import { DASHBOARD_DIST } from "../web/build.ts";
import type { DashboardConfig } from "../web/src/dashboard-config.ts";
import { prepareLocalDatabase } from "./database.ts";
import { type SqsHandler, startEventSourcePoller } from "./event-source-poller.ts";
import { ASSETS_PATH, createHttpGateway, type GatewayRoute, type HttpLambda } from "./http-gateway.ts";
import { loadOrCreateSigningKey, publicJwks } from "./identity.ts";
import { type PushHandlers, startPushGateway } from "./push-gateway.ts";
import { startNotificationBridge } from "./s3-notifications.ts";
import { startUploadCorsFront } from "./upload-cors.ts";

/** Settings of the local stack alone; the runtime's own variables are in `lambdas/config.ts`. */
export const LOCAL_ENV = {
  port: "PORT",
  host: "LOCAL_HOST",
  s3Port: "LOCAL_S3_PORT",
  dataDir: "LOCAL_DATA_DIR",
  visibilityTimeoutSeconds: "LOCAL_VISIBILITY_TIMEOUT_SECONDS",
  workerConcurrency: "LOCAL_WORKER_CONCURRENCY",
} as const;

const LOCAL_RECONCILE_INTERVAL_MS = 60_000;

/** The API on the dashboard's own origin, and the development sign-in (`POST /local/token`). */

const localConfigSchema = z
  .object({
    [LOCAL_ENV.port]: z.coerce.number().int().min(0).max(65535).default(3000),
    [LOCAL_ENV.host]: z.string().default("127.0.0.1"),
    [LOCAL_ENV.s3Port]: z.coerce.number().int().min(0).max(65535).default(4566),
    [LOCAL_ENV.dataDir]: z.string().default(".local"),
    [LOCAL_ENV.visibilityTimeoutSeconds]: z.coerce
      .number()
      .int()
      .min(1)
      .default(ENHANCE_QUEUE_SETTINGS.visibilityTimeoutSeconds),
    [LOCAL_ENV.workerConcurrency]: z.coerce.number().int().min(1).max(16).default(2),
  })
  .transform((env) => ({
    port: env[LOCAL_ENV.port],
    host: env[LOCAL_ENV.host],
    s3Port: env[LOCAL_ENV.s3Port],
    dataDir: resolve(env[LOCAL_ENV.dataDir]),
    visibilityTimeoutSeconds: env[LOCAL_ENV.visibilityTimeoutSeconds],
    workerConcurrency: env[LOCAL_ENV.workerConcurrency],
  }));

export interface LocalStack {
  apiUrl: string;
  /** The WebSocket a dashboard connects to for push (`?token=`), on the API's port. */
  pushUrl: string;
  /** The dashboard: the same address as the API (its pages are paths no API route has). */
  dashboardUrl: string;
  s3Endpoint: string;
  /** Where presigned POSTs go (`S3_PUBLIC_ENDPOINT`): the emulator behind S3's CORS rule, unless set. */
  uploadsUrl: string;
  assetsBaseUrl: string;
  /** The app user's URL: what the handlers sign in with (migrations ran as the admin). */
  databaseUrl: string;
  databaseUser: string;
  /** Where the database server came from: DATABASE_URL, the default port, or a private server. */
  databaseSource: string;
  dataDir: string;
  stop(): Promise<void>;
}

/** The addresses a browser on this machine reaches the stack by: 127.0.0.1 and localhost are the same place. */
const localOrigins = (host: string, port: number): string[] =>
  ["127.0.0.1", "localhost"].includes(host)
    ? [`http://127.0.0.1:${port}`, `http://localhost:${port}`]
    : [`http://${host}:${port}`];

const listen = (server: Server, port: number, host: string): Promise<number> =>
  new Promise((resolvePort, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolvePort((server.address() as AddressInfo).port));
  });

/**
 * Runs the whole pipeline in this process: fauxqs for S3 and SQS (state kept under the data
 * directory, so a crash or restart loses nothing), the database migrated, the HTTP routes and the
 * worker served by the very handler modules the Lambdas run, configured through the environment as
 * Lambda configures them.
 */
export const startLocalStack = async (env: NodeJS.ProcessEnv = process.env): Promise<LocalStack> => {
  const local = localConfigSchema.parse(env);
  const baseConfig = loadConfig({ ...env, [ENV.stage]: env[ENV.stage] ?? "local" });
  const { region } = baseConfig;

  await mkdir(local.dataDir, { recursive: true });
  const signingKey = await loadOrCreateSigningKey(local.dataDir);
  const jwks = publicJwks(signingKey);
  // First, so a database that cannot be reached stops npm start before anything else is listening.
  const database = await prepareLocalDatabase({ env, stateDir: local.dataDir, log: logger });
  const fauxqs = await startFauxqs({
    port: local.s3Port,
    logger: false,
    messageSpies: { bufferSize: 1000 },
    dataDir: resolve(local.dataDir, "fauxqs"),
    s3StorageDir: resolve(local.dataDir, "s3"),
  });
  const emulatorUrl = `http://127.0.0.1:${fauxqs.port}`;
  const [deadLetter] = fauxqs.setup({
    queues: [{ name: resourceName(baseConfig.stage, QUEUES.enhanceDeadLetter) }],
  }).queues;
  const enhanceQueueName = resourceName(baseConfig.stage, QUEUES.enhance);
  const setup = fauxqs.setup({
    buckets: [baseConfig.rawBucket, baseConfig.enhancedBucket],
    queues: [
      {
        name: enhanceQueueName,
        attributes: {
          VisibilityTimeout: String(local.visibilityTimeoutSeconds),
          RedrivePolicy: JSON.stringify({
            deadLetterTargetArn: deadLetter?.arn,
            maxReceiveCount: baseConfig.maxReceiveCount,
          }),
        },
      },
    ],
  });
  const enhanceQueue = setup.queues[0];
  if (!enhanceQueue || !deadLetter) throw new Error("fauxqs did not create the enhance queues");

  const server = createServer();
  const port = await listen(server, local.port, local.host);
  const apiUrl = `http://${local.host}:${port}`;
  // The dashboard is served from this stack's own address, so by default that is the one origin CORS allows.
  const allowedOrigins =
    env[ENV.allowedOrigins] !== undefined ? baseConfig.allowedOrigins : localOrigins(local.host, port);
  const assetsBaseUrl = `${apiUrl}${ASSETS_PATH.replace(/\/$/, "")}`;
  // Unless the presigned POSTs name another address, browsers upload through the CORS front of the emulator.
  const uploadFront =
    env[ENV.s3PublicEndpoint] === undefined
      ? await startUploadCorsFront({ target: emulatorUrl, allowedOrigins, host: local.host })
      : undefined;

  // API Gateway's WebSocket API on this same port, served by the same handler modules as in AWS.
  const push = await startPushGateway({
    server,
    host: local.host,
    log: logger,
    timeoutSeconds: 29,
    loadHandlers: async (): Promise<PushHandlers> => {
      const load = (name: string) => import(`../lambdas/handlers/push/${name}.ts`);
      const authorizer = (await load(PUSH.authorizer)) as { handler: PushHandlers["authorize"] };
      const routes = await Promise.all(
        PUSH.routes.map(async (route) => {
          const module = (await load(route.handler)) as { handler: PushHandlers["routes"][string] };
          return [route.routeKey, module.handler] as const;
        }),
      );
      return { authorize: authorizer.handler, routes: Object.fromEntries(routes) };
    },
  });

  // The handlers read their configuration from the environment, as they do in Lambda.
  Object.assign(process.env, {
    [ENV.stage]: baseConfig.stage,
    [ENV.databaseUrl]: database.appUrl,
    [ENV.awsRegion]: region,
    [ENV.s3Endpoint]: emulatorUrl,
    [ENV.s3PublicEndpoint]: env[ENV.s3PublicEndpoint] ?? uploadFront?.url ?? emulatorUrl,
    [ENV.sqsEndpoint]: emulatorUrl,
    [ENV.rawBucket]: baseConfig.rawBucket,
    [ENV.enhancedBucket]: baseConfig.enhancedBucket,
    [ENV.enhanceQueueUrl]: enhanceQueue.url,
    [ENV.assetsBaseUrl]: assetsBaseUrl,
    [ENV.maxReceiveCount]: String(baseConfig.maxReceiveCount),
    // CloudWatch metrics (EMF lines on stdout) mean nothing without CloudWatch to read them.
    POWERTOOLS_METRICS_DISABLED: env.POWERTOOLS_METRICS_DISABLED ?? "true",
    [ENV.allowedOrigins]: allowedOrigins.join(","),
    // The handlers verify tokens against the local key set, as they verify Cognito's in AWS.
    [ENV.localJwks]: JSON.stringify(jwks),
    [ENV.pushEndpoint]: push.managementUrl,
    AWS_ACCESS_KEY_ID: "local",
    AWS_SECRET_ACCESS_KEY: "local",
  });

  const routes: GatewayRoute[] = await Promise.all(
    ROUTES.map(async (definition) => {
      const module = (await import(`../lambdas/handlers/http/${definition.handler}.ts`)) as {
        handler: (event: APIGatewayProxyEventV2, context: unknown) => ReturnType<HttpLambda>;
      };
      return { definition, handler: module.handler as HttpLambda };
    }),
  );
  const s3 = createS3Client({ region, endpoint: emulatorUrl });
  const sqs = createSqsClient({ region, endpoint: emulatorUrl });
  server.on(
    "request",
    createHttpGateway({
      routes,
      allowedOrigins,
      assets: { s3, bucket: baseConfig.enhancedBucket },
      jwks,
      signingKey,
      dashboard: {
        dir: DASHBOARD_DIST,
        config: {
          apiUrl: "",
          pushUrl: PUSH.localPath,
          signIn: "local",
          maxUploadBytes: baseConfig.maxUploadBytes,
        } satisfies DashboardConfig,
      },
      log: logger,
      timeoutSeconds: 29,
    }),
  );

  const worker = (await import("../lambdas/handlers/enhance.ts")) as { handler: SqsHandler };
  const poller = startEventSourcePoller({
    sqs,
    queueUrl: enhanceQueue.url,
    queueArn: enhanceQueue.arn,
    region,
    handler: worker.handler,
    functionName: "enhance",
    batchSize: ENHANCE_QUEUE_SETTINGS.batchSize,
    concurrency: local.workerConcurrency,
    timeoutSeconds: ENHANCE_QUEUE_SETTINGS.workerTimeoutSeconds,
    log: logger,
  });
  const bridge = startNotificationBridge({
    spy: fauxqs.spy,
    s3,
    sqs,
    bucket: baseConfig.rawBucket,
    queueUrl: enhanceQueue.url,
    region,
    log: logger,
  });

  // The same reconciler EventBridge runs in AWS, on a timer: a photo whose notification the bridge
  // missed (the process was down when it landed) is re-queued, and no sequence stays processing forever.
  const reconciler = (await import("../lambdas/handlers/reconcile.ts")) as {
    handler: () => Promise<unknown>;
  };
  // A tick while a run is still going is skipped, as the lease would make it skip anyway.
  let reconciling: Promise<unknown> | undefined;
  const reconcileTimer = setInterval(() => {
    reconciling ??= reconciler
      .handler()
      .catch((error: unknown) => logger.error("reconciler failed", { error: String(error) }))
      .finally(() => {
        reconciling = undefined;
      });
  }, LOCAL_RECONCILE_INTERVAL_MS);

  let stopping: Promise<void> | undefined;
  return {
    apiUrl,
    pushUrl: `ws://${local.host}:${port}${PUSH.localPath}`,
    dashboardUrl: `${apiUrl}/`,
    s3Endpoint: emulatorUrl,
    uploadsUrl: env[ENV.s3PublicEndpoint] ?? uploadFront?.url ?? emulatorUrl,
    assetsBaseUrl,
    databaseUrl: database.appUrl,
    databaseUser: database.appUser,
    databaseSource: database.source,
    dataDir: local.dataDir,
    stop() {
      stopping ??= (async () => {
        const closed = new Promise<void>((done) => server.close(() => done()));
        server.closeIdleConnections();
        clearInterval(reconcileTimer);
        await reconciling;
        await bridge.stop();
        await poller.stop();
        await push.stop();
        await closed;
        await uploadFront?.stop();
        await fauxqs.stop();
        const { closeRuntime } = await import("../lambdas/handlers/runtime.ts");
        await closeRuntime();
        // Last: the batches that finished above still wrote to it.
        await database.stop();
      })();
      return stopping;
    },
  };
};
