/**
 * Every name that a route, bucket, queue, table or environment variable has, spelled once.
 * The CDK stacks, the local stack and the handlers all import from here so they cannot drift.
 */

export const RAW_PREFIX = "raw/";
export const ENHANCED_PREFIX = "enhanced/";

/** The largest photo a seller may upload, unless `MAX_UPLOAD_BYTES` says otherwise. */
export const DEFAULT_MAX_UPLOAD_BYTES = 25 * 1024 * 1024;

/** Raw originals expire this long after upload (the raw bucket's lifecycle); variants are kept. */
export const RAW_RETENTION_DAYS = 30;

/** Logical names; the deployed names get a stage prefix (see `resourceNames`). */
export const BUCKETS = {
  raw: "raw",
  enhanced: "enhanced",
} as const;

export const QUEUES = {
  enhance: "enhance",
  enhanceDeadLetter: "enhance-dlq",
} as const;

export const TABLES = {
  products: "products",
  productUploads: "product_uploads",
  productOriginals: "product_originals",
  productImages: "product_images",
  enhancementHistory: "enhancement_history",
  productDuplicates: "product_duplicates",
  leases: "leases",
  schemaMigrations: "schema_migrations",
  schemaMigrationLock: "schema_migration_lock",
  pushConnections: "push_connections",
} as const;

/** MySQL 8 (and so Aurora MySQL 3) refuses user names longer than this. */
const MAX_DATABASE_USER_LENGTH = 32;

/**
 * The application's database user for a database: data-only grants on its tables (`schema/app-user.ts`).
 * The handlers sign in as it; only migrations use the admin. A user is server-wide, so it is named after
 * its database: two checkouts (or test files) sharing one server never share or fight over a user. A
 * name too long for MySQL keeps its start and ends in a hash of the whole, so it stays unique.
 */
export const appDatabaseUser = (database: string): string => {
  const name = `${database}_app`;
  if (name.length <= MAX_DATABASE_USER_LENGTH) return name;
  // FNV-1a: a short, stable fingerprint; nothing here needs a cryptographic hash.
  let hash = 0x811c9dc5;
  for (const char of database) hash = Math.imul(hash ^ (char.codePointAt(0) ?? 0), 0x01000193) >>> 0;
  const suffix = `_${hash.toString(16).padStart(8, "0")}_app`;
  return `${database.slice(0, MAX_DATABASE_USER_LENGTH - suffix.length)}${suffix}`;
};

/**
 * The worker's timing: every other duration of the queue and the reconciler is derived from these, and
 * the CDK stacks and the local stack both read them from here.
 * - A record is started only while `photoBudgetSeconds` of the invocation are left; the records not
 *   started go back to the queue at once, so a slow photo never makes Lambda kill a batch mid-photo.
 * - The function may run three worst-case photos; a batch of ordinary ones (1–2 s each) ends far sooner.
 * - Visibility: at least 6× the function timeout, as AWS advises for an SQS event source, so a batch
 *   still retried by the event source is never delivered twice at once.
 *   https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html
 */
const PHOTO_BUDGET_SECONDS = 10;
const WORKER_TIMEOUT_SECONDS = 3 * PHOTO_BUDGET_SECONDS;

export const ENHANCE_QUEUE_SETTINGS = {
  batchSize: 5,
  maxReceiveCount: 3,
  photoBudgetSeconds: PHOTO_BUDGET_SECONDS,
  workerTimeoutSeconds: WORKER_TIMEOUT_SECONDS,
  visibilityTimeoutSeconds: 6 * WORKER_TIMEOUT_SECONDS,
  maxConcurrency: 4,
  /**
   * A photo for a product still busy with another comes back after this long, as a fresh message: waiting
   * costs none of its receives, so it can never end in the DLQ for having waited.
   */
  busyRetryDelaySeconds: 15,
} as const;

/** A product is never processing longer than this: every receive timed out, plus one reconciler interval. */
const RECONCILE_INTERVAL_MINUTES = 5;
const RETRY_WINDOW_SECONDS =
  ENHANCE_QUEUE_SETTINGS.maxReceiveCount * ENHANCE_QUEUE_SETTINGS.visibilityTimeoutSeconds;

/**
 * Set on the process that runs the worker (Lambda's environment, `npm start`, the benchmark's children).
 * - MALLOC_ARENA_MAX: with glibc's default of one malloc arena per thread, libvips' threads fragment
 *   the heap, so sharp falls back to a single thread unless it is set; two arenas keep the peak RSS of
 *   an 8 MP photo's variant set near 220 MB instead of 390 MB and let sharp use its threads again.
 *   https://sharp.pixelplumbing.com/install#linux-memory-allocator
 * - MALLOC_MMAP_THRESHOLD_: glibc raises its mmap threshold to the size of each large block freed, so
 *   after the first photo the 4–12 MB pixel buffers come from the heap and fragment it: a warm worker's
 *   peak RSS grew 220 → 250–270 MB over three photos. A fixed 1 MB threshold gives every buffer that
 *   large its own mapping, returned to the system when freed: 210–230 MB, photo after photo.
 */
export const WORKER_PROCESS_ENV = { MALLOC_ARENA_MAX: "2", MALLOC_MMAP_THRESHOLD_: "1048576" } as const;

/**
 * The reconciler: S3 notifications can be late or lost, and so can a worker. It runs on a schedule
 * (EventBridge in AWS, a timer locally), re-queues uploaded photos no event brought to the worker, and
 * fails sequences that outlived every retry.
 */
export const RECONCILE_SETTINGS = {
  intervalMinutes: RECONCILE_INTERVAL_MINUTES,
  /** The reconciler function's timeout; its lease lasts as long, so two runs never overlap. */
  timeoutSeconds: 120,
  /** A run starts no new page of work after this long, and leaves the rest to the next run. */
  timeBudgetSeconds: 60,
  /** Rows read per query: every answer stays far below the Data API's 1 MiB response limit. */
  pageSize: 100,
  /** A photo that landed less than this long ago may still have its own notification on the way. */
  lostAfterSeconds: 180,
  /**
   * A landed photo the worker has not received after this long is lost, however long the queue is: no
   * backlog this pipeline is sized for lasts an hour (see README, Scaling).
   */
  hardCapSeconds: 3600,
  /**
   * Only uploads issued this recently are looked at: a presigned POST lives at most an hour, so a photo
   * lands within an hour of its upload, and is judged lost at the latest an hour after that.
   */
  lookbackHours: 3,
  stuckAfterSeconds: RETRY_WINDOW_SECONDS + RECONCILE_INTERVAL_MINUTES * 60,
} as const;

/** Every environment variable the runtime reads; `lambdas/config.ts` gives each its default. */
export const ENV = {
  stage: "STAGE",
  databaseUrl: "DATABASE_URL",
  databaseClusterArn: "DATABASE_CLUSTER_ARN",
  databaseSecretArn: "DATABASE_SECRET_ARN",
  databaseAppSecretArn: "DATABASE_APP_SECRET_ARN",
  databaseName: "DATABASE_NAME",
  rdsDataEndpoint: "RDS_DATA_ENDPOINT",
  awsRegion: "AWS_REGION",
  s3Endpoint: "S3_ENDPOINT",
  s3PublicEndpoint: "S3_PUBLIC_ENDPOINT",
  sqsEndpoint: "SQS_ENDPOINT",
  rawBucket: "RAW_BUCKET",
  enhancedBucket: "ENHANCED_BUCKET",
  enhanceQueueUrl: "ENHANCE_QUEUE_URL",
  assetsBaseUrl: "ASSETS_BASE_URL",
  maxUploadBytes: "MAX_UPLOAD_BYTES",
  uploadUrlTtlSeconds: "UPLOAD_URL_TTL_SECONDS",
  maxInputPixels: "MAX_INPUT_PIXELS",
  maxReceiveCount: "MAX_RECEIVE_COUNT",
  variantSet: "VARIANT_SET",
  logLevel: "POWERTOOLS_LOG_LEVEL",
  allowedOrigins: "ALLOWED_ORIGINS",
  userPoolId: "USER_POOL_ID",
  userPoolClientId: "USER_POOL_CLIENT_ID",
  localJwks: "LOCAL_JWKS",
  geminiApiKey: "GEMINI_API_KEY",
  geminiApiKeySecretArn: "GEMINI_API_KEY_SECRET_ARN",
  geminiBaseUrl: "GEMINI_BASE_URL",
  geminiAnalysisModel: "GEMINI_ANALYSIS_MODEL",
  geminiImageModel: "GEMINI_IMAGE_MODEL",
  geminiAiVariants: "GEMINI_AI_VARIANTS",
  geminiCallTimeoutMs: "GEMINI_CALL_TIMEOUT_MS",
  geminiBudgetSeconds: "GEMINI_BUDGET_SECONDS",
  geminiConcurrency: "GEMINI_CONCURRENCY",
  pushEndpoint: "PUSH_ENDPOINT",
} as const;

/**
 * The Gemini step's defaults and bounds. The model ids are current, non-deprecated ids of `@google/genai`
 * 3.3's model list, checked against Google's deprecations page on 2026-12-02 (README, Gemini).
 * The AI step runs as its own message after the photo's sharp variants have taken the product to
 * `pending_review`, so it never delays them; its budget fits inside the worker's timeout beside a photo's.
 */
export const GEMINI_SETTINGS = {
  analysisModel: "gemini-3.8-flash",
  imageModel: "gemini-3.1-flash-image",
  aiVariants: 3,
  callTimeoutMs: 15_000,
  budgetSeconds: 20,
  /** The most a budget may be: a worker invocation must still fit a photo's budget beside it. */
  maxBudgetSeconds: WORKER_TIMEOUT_SECONDS - PHOTO_BUDGET_SECONDS,
  concurrency: 3,
} as const;

/**
 * The Cognito groups that are this API's roles. A signed-in user in neither group may do nothing; a user in
 * both may do what each allows.
 */
export const USER_GROUPS = { sellers: "sellers", reviewers: "reviewers" } as const;

/**
 * The local stack's token issuer (`npm start`, `npm run token`): tokens it signs carry this `iss` and
 * `client_id`, and the handlers verify them with the same code that verifies Cognito's. The issuer is a
 * fixed name rather than the stack's URL so a token keeps working when the stack moves to another port.
 */
export const LOCAL_IDENTITY = {
  issuer: "urn:pixel-lab:local",
  clientId: "pixel-lab-local-dashboard",
  /** Served by the local gateway, as Cognito serves the pool's keys under its issuer. */
  jwksPath: "/.well-known/jwks.json",
} as const;

export type HttpMethod = "GET" | "POST";

/**
 * CORS for browsers on the allowed origins (ALLOWED_ORIGINS): API Gateway's preflight, the local gateway's
 * and the handlers' headers all come from here. The bearer token travels in `authorization`.
 */
export const CORS_SETTINGS = {
  allowMethods: ["GET", "POST", "OPTIONS"],
  allowHeaders: ["content-type", "authorization"],
  maxAgeSeconds: 3600,
} as const;

/**
 * The raw bucket's CORS rule, for the dashboard's presigned POSTs straight to storage: S3's bucket rule in
 * AWS, the local stack's front of the S3 emulator locally (which answers no CORS itself).
 */
export const UPLOAD_CORS = {
  allowedMethods: ["POST"],
  exposedHeaders: ["ETag", "Location"],
  maxAgeSeconds: 3000,
} as const;

export interface RouteDefinition {
  method: HttpMethod;
  /** API Gateway v2 path syntax: `{name}` marks a path parameter. */
  path: string;
  /** Module under `lambdas/handlers/http/` that exports `handler`; also the Lambda's logical name. */
  handler: string;
  /**
   * `signed-in`: API Gateway's JWT authorizer admits only a valid token of the user pool, and the handler
   * verifies it again and checks the caller's groups. `public`: anyone may call it.
   */
  access: "public" | "signed-in";
}

/**
 * Push of each product's changes to open dashboards: a WebSocket API (API Gateway's in AWS, the local
 * gateway's `ws` server locally) with these routes, each served by the module of that name under
 * `lambdas/handlers/push/`. The browser connects with its access token in the `token` query parameter
 * (browsers cannot set headers on a WebSocket), which the authorizer verifies as the HTTP API verifies the
 * bearer token; the worker and the API post to connections through the `@connections` management endpoint
 * (`PUSH_ENDPOINT`).
 */
export const PUSH = {
  /** The local gateway's path for the WebSocket; API Gateway's URL is the stage's own. */
  localPath: "/push",
  tokenParameter: "token",
  authorizer: "authorize",
  routes: [
    { routeKey: "$connect", handler: "connect" },
    { routeKey: "$disconnect", handler: "disconnect" },
    { routeKey: "$default", handler: "message" },
  ],
  /** API Gateway closes a connection after 2 hours whatever happens, and one idle for 10 minutes. */
  maxConnectionSeconds: 7200,
  idleTimeoutSeconds: 600,
  /** The browser sends a ping this often so an open page's connection is never idle that long. */
  pingSeconds: 300,
  /** A change fans out to at most this many connections at once. */
  postConcurrency: 16,
} as const;

/** The HTTP API: the local server, API Gateway and the OpenAPI document are all built from this table. */
export const ROUTES = [
  { method: "POST", path: "/products", handler: "create-products", access: "signed-in" },
  { method: "GET", path: "/products", handler: "list-products", access: "signed-in" },
  { method: "POST", path: "/products/{id}/uploads", handler: "create-upload", access: "signed-in" },
  { method: "GET", path: "/products/{id}", handler: "get-product", access: "signed-in" },
  { method: "GET", path: "/products/{id}/duplicates", handler: "get-duplicates", access: "signed-in" },
  { method: "GET", path: "/products/{id}/history", handler: "get-history", access: "signed-in" },
  { method: "POST", path: "/products/{id}/enhance", handler: "enhance-product", access: "signed-in" },
  { method: "POST", path: "/products/{id}/review", handler: "review-product", access: "signed-in" },
  { method: "POST", path: "/reviews", handler: "review-products", access: "signed-in" },
  { method: "GET", path: "/changes", handler: "get-changes", access: "signed-in" },
  { method: "GET", path: "/openapi.json", handler: "openapi", access: "public" },
  { method: "GET", path: "/health", handler: "health", access: "public" },
] as const satisfies readonly RouteDefinition[];

export type RouteHandlerName = (typeof ROUTES)[number]["handler"];

/** Deployed resource names for a stage, e.g. `pixel-lab-dev-raw`. */
export const resourceName = (stage: string, logicalName: string): string =>
  `pixel-lab-${stage}-${logicalName}`;
