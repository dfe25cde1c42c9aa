import { Aws, CfnOutput, Stack, type StackProps } from "aws-cdk-lib";
import type { Construct } from "constructs";
import { DEFAULT_MAX_UPLOAD_BYTES, ENV } from "../lambdas/names.ts";
import { Alarms } from "./alarms.ts";
import { Api } from "./api.ts";
import { Dashboard } from "./dashboard.ts";
import { Database } from "./database.ts";
import { GeminiKey, type GeminiTuning } from "./gemini-key.ts";
import { Identity, loginBaseUrl } from "./identity.ts";
import { Migrations } from "./migrations.ts";
import { Push } from "./push.ts";
import { Queueing } from "./queueing.ts";
import { Reconciler } from "./reconciler.ts";
import { runtimeEnvironment } from "./runtime-environment.ts";
import { Storage } from "./storage.ts";
import { Worker } from "./worker.ts";

export interface PixelLabSettings {
  stage: string;
  /**
   * Browser origins allowed to call the API and POST photos (the dashboard's), never `*`. Default: the stage's
   * CloudFront URL, where the dashboard is served.
   */
  allowedOrigins?: string[];
  /**
   * Where Cognito's managed login may return the browser after sign-in and sign-out (the dashboard's URLs).
   * Default: each allowed origin followed by `/`.
   */
  dashboardUrls?: string[];
  alarmEmail?: string;
  /** The Gemini step's optional tuning for the worker (`-c geminiImageModel=…`); unset, the runtime's defaults. */
  geminiTuning?: GeminiTuning;
}

/**
 * What holds state: buckets and CDN, the queue and its DLQ, the database, the user pool and its users, and the
 * secret an operator puts the Gemini API key in. It changes rarely and is retained on delete; the application
 * stack can be torn down and redeployed freely beside it.
 */
export class DataStack extends Stack {
  readonly storage: Storage;
  readonly queueing: Queueing;
  readonly database: Database;
  readonly identity: Identity;
  readonly geminiKey: GeminiKey;

  constructor(scope: Construct, id: string, settings: PixelLabSettings, props?: StackProps) {
    super(scope, id, props);
    this.storage = new Storage(this, "Storage", {
      stage: settings.stage,
      ...(settings.allowedOrigins ? { allowedOrigins: settings.allowedOrigins } : {}),
      // The HTTP API lives in the application stack, which depends on this one, so its exact URL cannot be
      // named here: any HTTP API of this account's region, with managed login's token endpoint.
      dashboardConnectSources: [
        `https://*.execute-api.${Aws.REGION}.${Aws.URL_SUFFIX}`,
        // The push WebSocket API's stage.
        `wss://*.execute-api.${Aws.REGION}.${Aws.URL_SUFFIX}`,
        loginBaseUrl(settings.stage),
      ],
    });
    this.queueing = new Queueing(this, "Queueing", {
      stage: settings.stage,
      rawBucket: this.storage.rawBucket,
    });
    this.database = new Database(this, "Database", { stage: settings.stage });
    this.identity = new Identity(this, "Identity", {
      stage: settings.stage,
      dashboardUrls: settings.dashboardUrls ?? this.storage.allowedOrigins.map((origin) => `${origin}/`),
    });
    this.geminiKey = new GeminiKey(this, "GeminiKey", { stage: settings.stage });
  }
}

/** The code: the HTTP API, the worker, the migration runner, the alarms and the dashboard's files. */
export class AppStack extends Stack {
  readonly api: Api;
  readonly worker: Worker;
  readonly migrations: Migrations;
  readonly reconciler: Reconciler;
  readonly dashboard: Dashboard;
  readonly push: Push;

  constructor(scope: Construct, id: string, settings: PixelLabSettings, data: DataStack, props?: StackProps) {
    super(scope, id, props);
    const { storage, queueing, database, identity, geminiKey } = data;
    const baseEnvironment = runtimeEnvironment(settings.stage, storage, queueing.queue, database);
    this.migrations = new Migrations(this, "Migrations", { database, environment: baseEnvironment });
    this.push = new Push(this, "Push", {
      stage: settings.stage,
      database,
      identity,
      environment: baseEnvironment,
    });
    // Whatever changes a product posts the change to open dashboards through the push API's endpoint.
    const environment = { ...baseEnvironment, [ENV.pushEndpoint]: this.push.callbackUrl };
    this.api = new Api(this, "Api", {
      stage: settings.stage,
      storage,
      queue: queueing.queue,
      database,
      identity,
      geminiKey,
      environment,
      allowedOrigins: storage.allowedOrigins,
    });
    this.worker = new Worker(this, "Worker", {
      storage,
      queue: queueing.queue,
      database,
      environment,
      geminiKey,
      ...(settings.geminiTuning ? { geminiTuning: settings.geminiTuning } : {}),
    });
    this.reconciler = new Reconciler(this, "Reconciler", {
      storage,
      queue: queueing.queue,
      database,
      environment,
    });
    for (const publisher of [
      this.worker.function,
      this.reconciler.function,
      this.api.functions["review-product"],
      this.api.functions["review-products"],
    ]) {
      this.push.grantManagement(publisher);
    }
    this.dashboard = new Dashboard(this, "Dashboard", {
      storage,
      config: {
        apiUrl: this.api.url,
        pushUrl: this.push.url,
        signIn: "cognito",
        userPoolId: identity.userPool.userPoolId,
        clientId: identity.dashboardClient.userPoolClientId,
        domainUrl: identity.domainUrl,
        authority: identity.issuerUrl,
        maxUploadBytes: DEFAULT_MAX_UPLOAD_BYTES,
      },
    });
    const alarms = new Alarms(this, "Alarms", {
      queue: queueing.queue,
      deadLetterQueue: queueing.deadLetterQueue,
      worker: this.worker.function,
      ...(settings.alarmEmail ? { email: settings.alarmEmail } : {}),
    });

    new CfnOutput(this, "ApiUrl", {
      value: this.api.url,
      description:
        "Base URL of the HTTP API (a user pool access token in Authorization, but for /health and /openapi.json)",
    });
    new CfnOutput(this, "UserPoolId", {
      value: identity.userPool.userPoolId,
      description: "The Cognito user pool: create sellers and reviewers here and add them to their group",
    });
    new CfnOutput(this, "UserPoolClientId", {
      value: identity.dashboardClient.userPoolClientId,
      description: "The dashboard's app client (public: no secret; authorization code with PKCE)",
    });
    new CfnOutput(this, "UserPoolDomainUrl", {
      value: identity.domainUrl,
      description: "Base URL of Cognito's managed login (/oauth2/authorize, /oauth2/token, /logout)",
    });
    new CfnOutput(this, "PushUrl", {
      value: this.push.url,
      description: "The WebSocket the dashboard connects to for live progress (?token=<access token>)",
    });
    new CfnOutput(this, "DashboardUrl", {
      value: `${storage.assetsBaseUrl}/`,
      description: "The dashboard (CloudFront, the same distribution as the images)",
    });
    new CfnOutput(this, "ImagesUrl", {
      value: storage.assetsBaseUrl,
      description: "CloudFront base URL of enhanced images",
    });
    new CfnOutput(this, "RawBucketName", { value: storage.rawBucket.bucketName });
    new CfnOutput(this, "EnhanceDeadLetterQueueUrl", { value: queueing.deadLetterQueue.queueUrl });
    new CfnOutput(this, "DatabaseClusterArn", { value: database.cluster.clusterArn });
    new CfnOutput(this, "DatabaseSecretArn", {
      value: database.adminSecret.secretArn,
      description: "The admin's secret (migrations; the RDS query editor)",
    });
    new CfnOutput(this, "DatabaseAppSecretArn", {
      value: database.appSecret.secretArn,
      description: "The app user's secret: data-only grants, what the functions sign in with",
    });
    new CfnOutput(this, "GeminiApiKeySecretArn", {
      value: geminiKey.secret.secretArn,
      description:
        "The Gemini API key's secret, created empty: set the key with aws secretsmanager put-secret-value --secret-id <this ARN> --secret-string '<key>' (the bare key from Google AI Studio). Until then /health reports Gemini not configured and the AI step is skipped. The worker reads the key once per cold start, so a changed key reaches each worker at its next cold start or when its cached copy expires.",
    });
    new CfnOutput(this, "AlarmTopicArn", {
      value: alarms.topic.topicArn,
      description: "Subscribe to be told when photos stop flowing",
    });
  }
}
