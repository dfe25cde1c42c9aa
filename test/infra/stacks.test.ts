import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { App, type CfnElement, Validations } from "aws-cdk-lib";
import { Match, Template } from "aws-cdk-lib/assertions";
import type { ISecret } from "aws-cdk-lib/aws-secretsmanager";
import { AwsSolutionsChecks } from "cdk-nag";
import { beforeAll, describe, expect, it } from "vitest";
import {
  CORS_SETTINGS,
  ENHANCE_QUEUE_SETTINGS,
  ENHANCED_PREFIX,
  ENV,
  GEMINI_SETTINGS,
  PUSH,
  QUEUES,
  RAW_PREFIX,
  RECONCILE_SETTINGS,
  ROUTES,
  resourceName,
  USER_GROUPS,
  WORKER_PROCESS_ENV,
} from "../../lambdas/names.ts";
import { TOKEN_SOURCE } from "../../lib/api.ts";
import { buildApp, type PixelLabApp } from "../../lib/app.ts";
import { GEMINI_API_KEY_SECRET, GEMINI_TUNING_KEYS } from "../../lib/gemini-key.ts";
import { migrationsChecksum } from "../../lib/migrations.ts";
import { acknowledgments } from "../../lib/nag-acknowledgments.ts";
import { AppStack, DataStack } from "../../lib/stacks.ts";
import { DASHBOARD_BUCKET, SPA_ROUTING_CODE } from "../../lib/storage.ts";
import { ensureDashboardBuilt } from "../../web/build.ts";

const STAGE = "test";
let built: PixelLabApp;
let data: Template;
let app: Template;

beforeAll(async () => {
  // The application stack uploads web/dist: as bin/app.ts does, build it first when it is missing or stale.
  await ensureDashboardBuilt();
  built = buildApp({ stage: STAGE, allowedOrigins: ["https://dashboard.example.com"] });
  // Synthesises the whole app, running cdk-nag: an unacknowledged finding throws here.
  built.app.synth();
  data = Template.fromStack(built.data);
  app = Template.fromStack(built.application);
}, 120_000);

/** The construct's CloudFormation logical id in its own stack. */
const logicalIdOf = (construct: { node: { defaultChild?: unknown } }): string => {
  const resource = construct.node.defaultChild as CfnElement;
  return resource.stack.getLogicalId(resource);
};

/** The name of the Data stack's export of a resource's `Ref`, as a pattern (it ends in a hash). */
const exportOf = (construct: { node: { defaultChild?: unknown } }): string =>
  `^${built.data.stackName}:ExportsOutputRef${logicalIdOf(construct)}[0-9A-F]{8}$`;

/** The App stack's reference to a resource of the Data stack: the import of that resource's `Ref`. */
const importOf = (construct: { node: { defaultChild?: unknown } }) => ({
  "Fn::ImportValue": Match.stringLikeRegexp(exportOf(construct)),
});

const identity = () => built.data.identity;

const SIGNED_IN_ROUTES = ROUTES.filter((route) => route.access === "signed-in");
/** Our functions: one per route, the worker, the reconciler, the migration runner, and push's authorizer and routes. */
const OUR_FUNCTIONS = ROUTES.length + 3 + 1 + PUSH.routes.length;
const PUBLIC_ROUTES = ROUTES.filter((route) => route.access === "public");

const resourcesOf = (template: Template, type: string) =>
  Object.values(template.findResources(type)) as {
    Properties: Record<string, unknown>;
  }[];

interface CacheBehaviour {
  TargetOriginId: string;
  ViewerProtocolPolicy: string;
  PathPattern?: string;
  FunctionAssociations?: unknown[];
  ResponseHeadersPolicyId?: unknown;
}
interface DistributionConfig {
  DefaultRootObject?: string;
  DefaultCacheBehavior: CacheBehaviour;
  CacheBehaviors: CacheBehaviour[];
  Origins: { Id: string }[];
  CustomErrorResponses?: unknown[];
}
const distributionConfig = (): DistributionConfig => {
  const [distribution] = resourcesOf(data, "AWS::CloudFront::Distribution");
  return distribution?.Properties.DistributionConfig as DistributionConfig;
};
const behaviourFor = (pathPattern: string): CacheBehaviour => {
  const behaviour = distributionConfig().CacheBehaviors.find(
    (candidate) => candidate.PathPattern === pathPattern,
  );
  if (!behaviour) throw new Error(`no behaviour for ${pathPattern}`);
  return behaviour;
};
const originOf = (id: string) => distributionConfig().Origins.find((origin) => origin.Id === id);

/**
 * A bucket's policy allows reading to CloudFront's service principal alone, on the condition that the
 * request comes from this stack's distribution (Origin Access Control), and nothing to anyone else.
 */
const onlyCloudFrontReads = (bucket: { node: { defaultChild?: unknown } }) => {
  const bucketId = logicalIdOf(bucket);
  const policy = Object.values(data.findResources("AWS::S3::BucketPolicy")).find(
    (candidate) =>
      JSON.stringify((candidate as { Properties: { Bucket: unknown } }).Properties.Bucket) ===
      JSON.stringify({ Ref: bucketId }),
  ) as { Properties: { PolicyDocument: { Statement: Record<string, unknown>[] } } } | undefined;
  const allows = policy?.Properties.PolicyDocument.Statement.filter(
    (statement) => statement.Effect === "Allow",
  );
  expect(allows).toEqual([
    expect.objectContaining({
      Action: "s3:GetObject",
      Principal: { Service: "cloudfront.amazonaws.com" },
      Condition: {
        StringEquals: {
          "AWS:SourceArn": {
            "Fn::Join": [
              "",
              expect.arrayContaining([
                ":distribution/",
                { Ref: logicalIdOf(built.data.storage.distribution) },
              ]),
            ],
          },
        },
      },
    }),
  ]);
};

describe("storage and CDN", () => {
  it("blocks public access, encrypts, enforces bucket-owner and logs access on the raw, enhanced and dashboard buckets", () => {
    for (const logical of ["raw", "enhanced", DASHBOARD_BUCKET]) {
      data.hasResourceProperties("AWS::S3::Bucket", {
        BucketName: Match.objectLike({
          "Fn::Join": ["", Match.arrayWith([`${resourceName(STAGE, logical)}-`])],
        }),
        PublicAccessBlockConfiguration: {
          BlockPublicAcls: true,
          BlockPublicPolicy: true,
          IgnorePublicAcls: true,
          RestrictPublicBuckets: true,
        },
        BucketEncryption: {
          ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: "AES256" } }],
        },
        OwnershipControls: { Rules: [{ ObjectOwnership: "BucketOwnerEnforced" }] },
        LoggingConfiguration: Match.objectLike({ DestinationBucketName: Match.anyValue() }),
      });
    }
  });

  it("denies every request that is not over TLS, on every bucket", () => {
    const buckets = Object.keys(data.findResources("AWS::S3::Bucket"));
    const policies = resourcesOf(data, "AWS::S3::BucketPolicy");
    expect(policies).toHaveLength(buckets.length);
    for (const policy of policies) {
      expect(JSON.stringify(policy.Properties.PolicyDocument)).toContain('"aws:SecureTransport":"false"');
    }
  });

  it("lets browsers POST to the raw bucket and expires abandoned uploads", () => {
    data.hasResourceProperties("AWS::S3::Bucket", {
      CorsConfiguration: {
        CorsRules: [
          Match.objectLike({ AllowedMethods: ["POST"], AllowedOrigins: ["https://dashboard.example.com"] }),
        ],
      },
      LifecycleConfiguration: {
        Rules: Match.arrayWith([
          Match.objectLike({ Prefix: RAW_PREFIX, ExpirationInDays: 30, Status: "Enabled" }),
          Match.objectLike({ AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 } }),
        ]),
      },
    });
  });

  it("serves the enhanced bucket through CloudFront with Origin Access Control only, under /enhanced/*", () => {
    data.resourceCountIs("AWS::CloudFront::Distribution", 1);
    data.hasResourceProperties("AWS::CloudFront::OriginAccessControl", {
      OriginAccessControlConfig: Match.objectLike({
        OriginAccessControlOriginType: "s3",
        SigningBehavior: "always",
      }),
    });
    // Image keys start with enhanced/ and are appended to the distribution's URL: that path must reach the bucket.
    const images = behaviourFor(`/${ENHANCED_PREFIX}*`);
    expect(originOf(images.TargetOriginId)).toMatchObject({
      DomainName: { "Fn::GetAtt": [logicalIdOf(built.data.storage.enhancedBucket), "RegionalDomainName"] },
      OriginAccessControlId: expect.anything(),
      S3OriginConfig: { OriginAccessIdentity: "" },
    });
    expect(images.ViewerProtocolPolicy).toBe("redirect-to-https");
    onlyCloudFrontReads(built.data.storage.enhancedBucket);
  });

  it("gives every Lambda of ours the CloudFront domain as the base of image URLs", () => {
    // Ours: a function per route, the worker, the reconciler, the migration runner and push's (the CDK's
    // own helpers, the Provider framework and the bucket-notification handler, read no images).
    const ours = resourcesOf(app, "AWS::Lambda::Function").filter(
      (fn) =>
        (fn.Properties.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables?.[
          ENV.stage
        ],
    );
    expect(ours).toHaveLength(OUR_FUNCTIONS);
    const baseUrls = ours.map((fn) =>
      JSON.stringify(
        (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables[ENV.assetsBaseUrl],
      ),
    );
    expect(
      baseUrls.filter((url) => !/https:\/\/.*DistributionDomainName|Fn::ImportValue/.test(url ?? "")),
    ).toEqual([]);
  });
});

describe("dashboard hosting", () => {
  const storage = () => built.data.storage;
  const pagesDeployment = () =>
    resourcesOf(app, "Custom::CDKBucketDeployment").find((resource) => resource.Properties.DistributionPaths);
  const bundleDeployment = () =>
    resourcesOf(app, "Custom::CDKBucketDeployment").find(
      (resource) => resource.Properties.DestinationBucketKeyPrefix === "app/",
    );

  it("keeps the dashboard bucket TLS-only", () => {
    data.hasResourceProperties("AWS::S3::BucketPolicy", {
      Bucket: { Ref: logicalIdOf(storage().dashboardBucket) },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: "Deny",
            Action: "s3:*",
            Principal: { AWS: "*" },
            Condition: { Bool: { "aws:SecureTransport": "false" } },
          }),
        ]),
      },
    });
  });

  it("lets only the distribution read the dashboard bucket, through Origin Access Control", () => {
    onlyCloudFrontReads(storage().dashboardBucket);
  });

  it("serves the dashboard bucket as the default behaviour, index.html at /, HTTPS only", () => {
    const config = distributionConfig();
    expect(config.DefaultRootObject).toBe("index.html");
    const dashboard = config.DefaultCacheBehavior;
    expect(dashboard.ViewerProtocolPolicy).toBe("redirect-to-https");
    expect(originOf(dashboard.TargetOriginId)).toMatchObject({
      DomainName: { "Fn::GetAtt": [logicalIdOf(storage().dashboardBucket), "RegionalDomainName"] },
      OriginAccessControlId: expect.anything(),
      S3OriginConfig: { OriginAccessIdentity: "" },
    });
    for (const behaviour of config.CacheBehaviors)
      expect(behaviour.ViewerProtocolPolicy).toBe("redirect-to-https");
  });

  it("answers the dashboard's client routes with index.html on its behaviour alone, never a missing image", () => {
    const spaRouting = { "Fn::GetAtt": [logicalIdOf(storage().spaRouting), "FunctionARN"] };
    expect(distributionConfig().DefaultCacheBehavior.FunctionAssociations).toEqual([
      { EventType: "viewer-request", FunctionARN: spaRouting },
    ]);
    expect(behaviourFor(`/${ENHANCED_PREFIX}*`).FunctionAssociations).toBeUndefined();
    // Error responses would answer every missing image with the page too.
    expect(distributionConfig().CustomErrorResponses).toBeUndefined();
    data.hasResourceProperties("AWS::CloudFront::Function", {
      FunctionCode: SPA_ROUTING_CODE,
      FunctionConfig: Match.objectLike({ Runtime: "cloudfront-js-2.0" }),
    });
  });

  it("rewrites extension-less paths to /index.html and leaves files alone (the function's code, run)", () => {
    const handler = new Function(`${SPA_ROUTING_CODE}\nreturn handler;`)() as (event: {
      request: { uri: string };
    }) => { uri: string };
    const rewrite = (uri: string) => handler({ request: { uri } }).uri;
    expect(["/", "/gallery", "/product/01J9Z3", "/product/01J9Z3/"].map(rewrite)).toEqual(
      Array(4).fill("/index.html"),
    );
    for (const file of ["/app/index-Ch_w8Jhs.js", "/config.json", "/favicon.svg", "/app/missing.js"]) {
      expect(rewrite(file)).toBe(file);
    }
  });

  it("sends HSTS, nosniff, frame DENY and a content security policy with the dashboard", () => {
    const policyId = logicalIdOf(storage().dashboardHeaders);
    expect(distributionConfig().DefaultCacheBehavior.ResponseHeadersPolicyId).toEqual({ Ref: policyId });
    data.hasResourceProperties("AWS::CloudFront::ResponseHeadersPolicy", {
      ResponseHeadersPolicyConfig: Match.objectLike({
        SecurityHeadersConfig: Match.objectLike({
          StrictTransportSecurity: Match.objectLike({ AccessControlMaxAgeSec: 31_536_000, Override: true }),
          ContentTypeOptions: { Override: true },
          FrameOptions: { FrameOption: "DENY", Override: true },
        }),
      }),
    });
    const csp = JSON.stringify(
      (
        data.findResources("AWS::CloudFront::ResponseHeadersPolicy")[policyId] as {
          Properties: {
            ResponseHeadersPolicyConfig: { SecurityHeadersConfig: { ContentSecurityPolicy: unknown } };
          };
        }
      ).Properties.ResponseHeadersPolicyConfig.SecurityHeadersConfig.ContentSecurityPolicy,
    );
    for (const directive of [
      "default-src 'self'",
      "script-src 'self'",
      "frame-ancestors 'none'",
      "connect-src 'self' https://",
      ".execute-api.",
      `${resourceName(STAGE, "login")}-`,
      ".amazoncognito.com",
      `https://${resourceName(STAGE, "raw")}-`,
    ]) {
      expect(csp).toContain(directive);
    }
    expect(csp).not.toContain("unsafe-inline");
  });

  it("lets the dashboard show the seller's original photo: img-src names the raw bucket's regional origin", () => {
    const policyId = logicalIdOf(storage().dashboardHeaders);
    const csp = JSON.stringify(
      (
        data.findResources("AWS::CloudFront::ResponseHeadersPolicy")[policyId] as {
          Properties: {
            ResponseHeadersPolicyConfig: { SecurityHeadersConfig: { ContentSecurityPolicy: unknown } };
          };
        }
      ).Properties.ResponseHeadersPolicyConfig.SecurityHeadersConfig.ContentSecurityPolicy,
    );
    expect(csp).toContain(`img-src 'self' data: https://${resourceName(STAGE, "raw")}-`);
  });

  it.each(["GetProduct", "EnhanceProduct"])(
    "lets %s HEAD (and presign a GET of) raw/ alone: GetObject and a prefixed ListBucket, nothing more on S3",
    (fn) => {
      const policy = Object.entries(app.findResources("AWS::IAM::Policy")).find(([id]) =>
        id.includes(`${fn}ServiceRoleDefaultPolicy`),
      );
      if (!policy) throw new Error(`${fn} has no policy`);
      const statements = (
        policy[1] as {
          Properties: {
            PolicyDocument: {
              Statement: { Action: string | string[]; Resource: unknown; Condition?: unknown }[];
            };
          };
        }
      ).Properties.PolicyDocument.Statement.filter((statement) =>
        [statement.Action].flat().some((action) => action.startsWith("s3:")),
      );
      expect(statements.flatMap((statement) => [statement.Action].flat()).sort()).toEqual([
        "s3:GetObject",
        "s3:ListBucket",
      ]);
      const read = statements.find((statement) => statement.Action === "s3:GetObject");
      expect(JSON.stringify(read?.Resource)).toContain(`/${RAW_PREFIX}*`);
      expect(JSON.stringify(read?.Resource)).not.toContain("enhanced");
      const list = statements.find((statement) => statement.Action === "s3:ListBucket");
      expect(list?.Condition).toEqual({ StringLike: { "s3:prefix": [`${RAW_PREFIX}*`] } });
    },
  );

  it("uploads the build to the dashboard bucket: the hashed bundle for a year, immutable, never pruned", () => {
    expect(bundleDeployment()?.Properties).toMatchObject({
      SystemMetadata: { "cache-control": "public, max-age=31536000, immutable" },
      Prune: false,
    });
    expect(JSON.stringify(bundleDeployment()?.Properties.DestinationBucketName)).toContain(
      `${resourceName(STAGE, DASHBOARD_BUCKET)}-`,
    );
  });

  it("uploads index.html and config.json no-cache, after the bundle, and invalidates both", () => {
    const pages = pagesDeployment();
    expect(pages?.Properties).toMatchObject({
      SystemMetadata: { "cache-control": "no-cache" },
      Exclude: ["app/*"],
      DistributionPaths: ["/index.html", "/config.json"],
    });
    expect(pages?.Properties.DistributionId).toEqual({
      "Fn::ImportValue": expect.stringMatching(new RegExp(exportOf(storage().distribution))),
    });
    expect(JSON.stringify(pages?.Properties.DestinationBucketName)).toContain(
      `${resourceName(STAGE, DASHBOARD_BUCKET)}-`,
    );
    const deployments = Object.entries(app.findResources("Custom::CDKBucketDeployment")) as [
      string,
      { Properties: Record<string, unknown>; DependsOn?: string[] },
    ][];
    const bundleId = deployments.find(([, resource]) => resource.Properties.Prune === false)?.[0];
    expect(bundleId).toBeDefined();
    expect(
      deployments.find(([, resource]) => resource.Properties.DistributionPaths)?.[1].DependsOn,
    ).toContain(bundleId);
  });

  it("writes config.json at deploy time with the API URL, the pool and client ids and managed login's URL", () => {
    const pages = pagesDeployment();
    const keys = pages?.Properties.SourceObjectKeys as string[];
    const markers = pages?.Properties.SourceMarkers as Record<string, unknown>[];
    const index = keys.findIndex((key) =>
      existsSync(join(built.app.outdir, `asset.${key.replace(/\.zip$/, "")}`, "config.json")),
    );
    expect(index).toBeGreaterThanOrEqual(0);
    const text = readFileSync(
      join(built.app.outdir, `asset.${String(keys[index]).replace(/\.zip$/, "")}`, "config.json"),
      "utf8",
    );
    // Each marker of the file replaced by its value, as the deployment function does.
    const resolved = JSON.parse(
      Object.entries(markers[index] ?? {}).reduce(
        (content, [marker, value]) => content.replaceAll(marker, JSON.stringify(value).replaceAll('"', "'")),
        text,
      ),
    ) as Record<string, string>;
    const api = logicalIdOf(built.application.api.httpApi);
    expect(resolved.signIn).toBe("cognito");
    expect(resolved.apiUrl).toBe(JSON.stringify({ "Fn::GetAtt": [api, "ApiEndpoint"] }).replaceAll('"', "'"));
    expect(resolved.userPoolId).toMatch(new RegExp(exportOf(identity().userPool).slice(1, -1)));
    expect(resolved.clientId).toMatch(new RegExp(exportOf(identity().dashboardClient).slice(1, -1)));
    expect(resolved.pushUrl).toMatch(
      new RegExp(`^wss://.*${logicalIdOf(built.application.push.webSocketApi)}.*execute-api.*/live$`),
    );
    expect(resolved.domainUrl).toMatch(
      new RegExp(
        `^https://.*${exportOf(identity().domain).slice(1, -1)}.*\\.auth\\..*\\.amazoncognito\\.com$`,
      ),
    );
    // The issuer the page names as its authority: the pool's, in the stack's region.
    expect(resolved.authority).toMatch(
      new RegExp(
        `^https://cognito-idp\\.\\{'Ref':'AWS::Region'\\}\\.\\{'Ref':'AWS::URLSuffix'\\}/\\{'Fn::ImportValue':'${exportOf(identity().userPool).slice(1, -1)}'\\}$`,
      ),
    );
  });

  it("outputs the dashboard's URL: the distribution's, at /", () => {
    app.hasOutput("DashboardUrl", {
      Value: {
        "Fn::Join": [
          "",
          [
            "https://",
            {
              "Fn::ImportValue": Match.stringLikeRegexp(
                `^${built.data.stackName}:ExportsOutputFnGetAttStorageCdn`,
              ),
            },
            "/",
          ],
        ],
      },
    });
  });
});

describe("queueing", () => {
  it("names the queue and DLQ from the shared definitions, encrypted and TLS-only", () => {
    data.hasResourceProperties("AWS::SQS::Queue", {
      QueueName: resourceName(STAGE, QUEUES.enhance),
      SqsManagedSseEnabled: true,
      VisibilityTimeout: ENHANCE_QUEUE_SETTINGS.visibilityTimeoutSeconds,
      RedrivePolicy: { deadLetterTargetArn: Match.anyValue(), maxReceiveCount: 3 },
    });
    data.hasResourceProperties("AWS::SQS::Queue", {
      QueueName: resourceName(STAGE, QUEUES.enhanceDeadLetter),
      SqsManagedSseEnabled: true,
    });
    // One policy per queue, each denying requests that are not over TLS.
    const policies = resourcesOf(data, "AWS::SQS::QueuePolicy").map((policy) =>
      JSON.stringify(policy.Properties.PolicyDocument),
    );
    expect(policies).toHaveLength(2);
    expect(policies.filter((policy) => !policy.includes('"aws:SecureTransport":"false"'))).toEqual([]);
  });

  it("derives the queue's timings from the worker's, as deployed", () => {
    const worker = resourcesOf(app, "AWS::Lambda::Function").find((fn) => fn.Properties.MemorySize === 2048);
    const timeout = Number(worker?.Properties.Timeout);
    const queue = resourcesOf(data, "AWS::SQS::Queue").find(
      (candidate) => candidate.Properties.QueueName === resourceName(STAGE, QUEUES.enhance),
    );
    const visibility = Number(queue?.Properties.VisibilityTimeout);
    const receives = Number(
      (queue?.Properties.RedrivePolicy as { maxReceiveCount: number } | undefined)?.maxReceiveCount,
    );
    // AWS's advice for an SQS event source: visibility at least 6× the function's timeout.
    expect(visibility).toBeGreaterThanOrEqual(6 * timeout);
    // Room in one invocation for the batch's worst-case photos that the time budget lets start.
    expect(timeout).toBeGreaterThanOrEqual(2 * ENHANCE_QUEUE_SETTINGS.photoBudgetSeconds);
    // A product is failed as stuck only once every receive could have timed out.
    expect(RECONCILE_SETTINGS.stuckAfterSeconds).toBeGreaterThanOrEqual(receives * visibility);
    // A photo waiting for a busy product may wait out that whole window before it counts as a fault.
    app.hasResourceProperties("AWS::Lambda::EventSourceMapping", {
      BatchSize: ENHANCE_QUEUE_SETTINGS.batchSize,
    });
  });

  it("lets the worker re-send a photo that waits for a busy product, and the reconciler read the queue's counts", () => {
    const policyOf = (prefix: string) =>
      JSON.stringify(
        Object.entries(app.findResources("AWS::IAM::Policy")).find(([id]) => id.startsWith(prefix))?.[1],
      );
    expect(policyOf("WorkerEnhanceServiceRoleDefaultPolicy")).toContain("sqs:SendMessage");
    expect(policyOf("WorkerEnhanceServiceRoleDefaultPolicy")).toContain("sqs:ChangeMessageVisibility");
    expect(policyOf("ReconcilerReconcileServiceRoleDefaultPolicy")).toContain("sqs:GetQueueAttributes");
    expect(policyOf("ReconcilerReconcileServiceRoleDefaultPolicy")).toContain("sqs:SendMessage");
  });

  it("gives the reconciler a timeout its lease and time budget fit in", () => {
    const reconciler = resourcesOf(app, "AWS::Lambda::Function").find(
      (fn) =>
        JSON.stringify(fn.Properties.Handler ?? "").includes("index.handler") &&
        JSON.stringify(fn).includes("Reconcile"),
    );
    expect(Number(reconciler?.Properties.Timeout)).toBe(RECONCILE_SETTINGS.timeoutSeconds);
    expect(RECONCILE_SETTINGS.timeBudgetSeconds).toBeLessThan(RECONCILE_SETTINGS.timeoutSeconds);
  });

  it("sends ObjectCreated events for raw/ to the queue", () => {
    data.hasResourceProperties("Custom::S3BucketNotifications", {
      NotificationConfiguration: {
        QueueConfigurations: [
          Match.objectLike({
            Events: ["s3:ObjectCreated:*"],
            Filter: { Key: { FilterRules: [{ Name: "prefix", Value: RAW_PREFIX }] } },
          }),
        ],
      },
    });
  });
});

describe("database", () => {
  it("is Aurora MySQL 3.08+ Serverless v2 with the Data API, encrypted, with a generated secret", () => {
    const [cluster] = resourcesOf(data, "AWS::RDS::DBCluster");
    expect(cluster?.Properties).toMatchObject({
      Engine: "aurora-mysql",
      EnableHttpEndpoint: true,
      StorageEncrypted: true,
      DeletionProtection: true,
      DatabaseName: "pixel_lab",
      ServerlessV2ScalingConfiguration: { MinCapacity: 0, MaxCapacity: 8 },
    });
    const [, minor] = /^8\.0\.mysql_aurora\.3\.(\d+)\./.exec(String(cluster?.Properties.EngineVersion)) ?? [];
    expect(Number(minor)).toBeGreaterThanOrEqual(8);
    data.hasResourceProperties("AWS::RDS::DBInstance", {
      DBInstanceClass: "db.serverless",
      Engine: "aurora-mysql",
    });
    // The admin's and the app user's, both generated (the Gemini key's, created empty, is the only other).
    expect(
      resourcesOf(data, "AWS::SecretsManager::Secret").filter(
        (secret) => secret.Properties.GenerateSecretString,
      ),
    ).toHaveLength(2);
    data.resourceCountIs("AWS::EC2::NatGateway", 0);
  });
});

describe("database users", () => {
  interface Statement {
    Action: string | string[];
    Resource: unknown;
  }
  /** The logical id of each function in the App stack, by its role's logical id. */
  const functionByRole = () =>
    new Map(
      Object.entries(app.findResources("AWS::Lambda::Function")).map(([id, fn]) => [
        String((fn as { Properties: { Role: { "Fn::GetAtt": [string] } } }).Properties.Role["Fn::GetAtt"][0]),
        id,
      ]),
    );
  /** The functions whose role may read the secret (secretsmanager:GetSecretValue on its ARN), sorted. */
  const readersOf = (secret: ISecret): string[] => {
    const secretId = built.data.getLogicalId(secret.node.defaultChild as CfnElement);
    const roles = functionByRole();
    return Object.values(app.findResources("AWS::IAM::Policy"))
      .flatMap((policy) => {
        const { PolicyDocument, Roles } = (
          policy as { Properties: { PolicyDocument: { Statement: Statement[] }; Roles: { Ref: string }[] } }
        ).Properties;
        const reads = PolicyDocument.Statement.some(
          (statement) =>
            [statement.Action].flat().includes("secretsmanager:GetSecretValue") &&
            JSON.stringify(statement.Resource).includes(secretId),
        );
        return reads ? Roles.map((role) => roles.get(role.Ref) ?? `role ${role.Ref}`) : [];
      })
      .sort();
  };
  const migrationFunction = () => logicalIdOf(built.application.migrations.function);
  const appFunctions = () =>
    [
      ...Object.values(built.application.api.functions),
      built.application.worker.function,
      built.application.reconciler.function,
      // Push's $connect and $disconnect keep connections; its authorizer and $default never touch the database.
      built.application.push.functions.connect,
      built.application.push.functions.disconnect,
    ].map(logicalIdOf);

  it("keeps the app user's own secret beside the admin's, attached to the cluster", () => {
    data.hasResourceProperties("AWS::SecretsManager::Secret", {
      GenerateSecretString: Match.objectLike({
        SecretStringTemplate: JSON.stringify({ username: "pixel_lab_app", dbname: "pixel_lab" }),
        ExcludeCharacters: Match.stringLikeRegexp("'"),
      }),
    });
    data.resourceCountIs("AWS::SecretsManager::SecretTargetAttachment", 2);
  });

  it("lets only the migration function read the admin's secret", () => {
    expect(readersOf(built.data.database.adminSecret)).toEqual([migrationFunction()]);
  });

  it("lets the API, worker and reconciler functions read the app user's secret, and the migration function", () => {
    expect(readersOf(built.data.database.appSecret)).toEqual([...appFunctions(), migrationFunction()].sort());
  });

  it("gives every function but the migration one the app user's secret to sign in with", () => {
    const signsInWith = Object.fromEntries(
      Object.entries(app.findResources("AWS::Lambda::Function"))
        .filter(([, fn]) => JSON.stringify(fn).includes(ENV.databaseSecretArn))
        .map(([id, fn]) => {
          const secret = JSON.stringify(
            (fn as { Properties: { Environment: { Variables: Record<string, unknown> } } }).Properties
              .Environment.Variables[ENV.databaseSecretArn],
          );
          const admin = built.data.getLogicalId(
            built.data.database.adminSecret.node.defaultChild as CfnElement,
          );
          const appUser = built.data.getLogicalId(
            built.data.database.appSecret.node.defaultChild as CfnElement,
          );
          return [id, secret.includes(admin) ? "admin" : secret.includes(appUser) ? "app" : secret];
        }),
    );
    expect(signsInWith).toEqual({
      ...Object.fromEntries(appFunctions().map((id) => [id, "app"])),
      [migrationFunction()]: "admin",
    });
  });

  it("grants no function read on every secret", () => {
    const wildcard = Object.values(app.findResources("AWS::IAM::Policy")).filter((policy) =>
      (
        policy as { Properties: { PolicyDocument: { Statement: Statement[] } } }
      ).Properties.PolicyDocument.Statement.some(
        (statement) =>
          [statement.Action].flat().some((action) => action.startsWith("secretsmanager:")) &&
          JSON.stringify(statement.Resource) === '"*"',
      ),
    );
    expect(wildcard).toEqual([]);
  });

  it("re-runs the migration function when the app user's grants would change", () => {
    app.hasResourceProperties("Custom::PixelLabSchema", {
      appUserGrants: Match.stringLikeRegexp("^DELETE,INSERT,SELECT,UPDATE ON .*\\bproducts\\b"),
    });
  });
});

describe("Gemini API key", () => {
  interface IamStatement {
    Effect: string;
    Action: string | string[];
    Resource: unknown;
  }
  interface PolicyDocument {
    Statement: IamStatement[];
  }
  const secret = () => built.data.geminiKey.secret;
  const secretId = () => built.data.getLogicalId(secret().node.defaultChild as CfnElement);
  const secretName = resourceName(STAGE, GEMINI_API_KEY_SECRET);
  const secretResource = () => {
    const resource = data.findResources("AWS::SecretsManager::Secret")[secretId()] as
      | { Properties: Record<string, unknown> }
      | undefined;
    if (!resource) throw new Error("no Gemini API key secret");
    return resource;
  };
  /** The logical id of a function's role in the App stack. */
  const roleOf = (fn: { role?: { node: { defaultChild?: unknown } } }) => {
    if (!fn.role) throw new Error("a function without a role");
    return `${built.application.stackName}/${logicalIdOf(fn.role)}`;
  };
  const worker = () => roleOf(built.application.worker.function);
  const health = () => roleOf(built.application.api.functions.health);

  /**
   * Every Allow statement of every IAM policy in both stacks (policies, managed policies and roles' inline
   * policies), with the roles it applies to as `stack/logicalId`.
   */
  const allowStatements = () =>
    (
      [
        [data, built.data.stackName],
        [app, built.application.stackName],
      ] as const
    ).flatMap(([template, stack]) => {
      const roleName = (role: unknown) =>
        `${stack}/${(role as { Ref?: string }).Ref ?? JSON.stringify(role)}`;
      const attached = (type: string) =>
        Object.values(template.findResources(type)).flatMap((policy) => {
          const { PolicyDocument, Roles = [] } = (
            policy as { Properties: { PolicyDocument: PolicyDocument; Roles?: unknown[] } }
          ).Properties;
          return PolicyDocument.Statement.map((statement) => ({ statement, roles: Roles.map(roleName) }));
        });
      const inline = Object.entries(template.findResources("AWS::IAM::Role")).flatMap(([id, role]) =>
        (
          (role as { Properties: { Policies?: { PolicyDocument: PolicyDocument }[] } }).Properties.Policies ??
          []
        )
          .flatMap(({ PolicyDocument }) => PolicyDocument.Statement)
          .map((statement) => ({ statement, roles: [`${stack}/${id}`] })),
      );
      return [...attached("AWS::IAM::Policy"), ...attached("AWS::IAM::ManagedPolicy"), ...inline].filter(
        ({ statement }) => statement.Effect === "Allow",
      );
    });
  const glob = (pattern: string) =>
    new RegExp(
      `^${pattern
        .split("*")
        .map((part) => part.replace(/[.?+^$(){}|[\]\\]/g, "\\$&"))
        .join(".*")}$`,
    );
  /** Whether a statement's resources take in the secret: by reference, or by a wildcard that matches its ARN. */
  const coversSecret = (statement: IamStatement) => {
    const arn = `arn:aws:secretsmanager:eu-west-1:123456789012:secret:${secretName}-AbCdEf`;
    return [statement.Resource].flat().some((resource) => {
      if (JSON.stringify(resource).includes(secretId())) return true;
      if (typeof resource === "string") return glob(resource).test(arn);
      // A Secrets Manager ARN built with Fn::Join, its tokens (partition, region, account…) read as wildcards.
      const join = (resource as { "Fn::Join"?: [string, unknown[]] })["Fn::Join"];
      if (!join?.[1].some((part) => typeof part === "string" && part.includes(":secretsmanager:")))
        return false;
      return glob(join[1].map((part) => (typeof part === "string" ? part : "*")).join(join[0])).test(arn);
    });
  };
  /** Whether any action of a statement could be a Secrets Manager one (`*`, `secretsmanager:…`). */
  const mayActOnSecrets = (statement: IamStatement) =>
    [statement.Action]
      .flat()
      .some((pattern) => glob(pattern.split(":")[0] ?? pattern).test("secretsmanager"));
  const allows = (statement: IamStatement, action: string) =>
    [statement.Action].flat().some((pattern) => glob(pattern).test(action));
  /** The roles allowed `action` on the secret, sorted. */
  const rolesAllowed = (action: string) =>
    [
      ...new Set(
        allowStatements()
          .filter(({ statement }) => allows(statement, action) && coversSecret(statement))
          .flatMap(({ roles }) => roles),
      ),
    ].sort();

  it("is one secret of the data stack, named for the stage, retained on delete and replace", () => {
    data.hasResource("AWS::SecretsManager::Secret", {
      Properties: Match.objectLike({ Name: secretName }),
      DeletionPolicy: "Retain",
      UpdateReplacePolicy: "Retain",
    });
    expect(secretResource().Properties.Name).toBe(secretName);
    app.resourceCountIs("AWS::SecretsManager::Secret", 0);
  });

  it("is created empty: no generated value, no value of any kind, for the operator to set", () => {
    expect(secretResource().Properties).not.toHaveProperty("GenerateSecretString");
    expect(secretResource().Properties).not.toHaveProperty("SecretString");
  });

  it("is encrypted with the AWS-managed key, so IAM alone decides who decrypts it", () => {
    expect(secretResource().Properties).not.toHaveProperty("KmsKeyId");
  });

  it("lets the worker read it: GetSecretValue on its ARN", () => {
    expect(rolesAllowed("secretsmanager:GetSecretValue")).toContain(worker());
  });

  it("lets no other role in either stack read it, by its ARN or a wildcard", () => {
    expect(rolesAllowed("secretsmanager:GetSecretValue")).toEqual([worker()]);
  });

  it("lets /health only describe it (whether a value is set), never read it", () => {
    const actions = allowStatements()
      .filter(({ statement, roles }) => roles.includes(health()) && coversSecret(statement))
      .flatMap(({ statement }) => [statement.Action].flat());
    expect(actions).toEqual(["secretsmanager:DescribeSecret"]);
  });

  it("gives no role but the worker's and /health's any permission on it", () => {
    const roles = new Set(
      allowStatements()
        .filter(({ statement }) => coversSecret(statement) && mayActOnSecrets(statement))
        .flatMap(({ roles }) => roles),
    );
    expect([...roles].sort()).toEqual([worker(), health()].sort());
  });

  it("gives its ARN to the worker and /health, and to no other function", () => {
    const holders = Object.fromEntries(
      Object.entries(app.findResources("AWS::Lambda::Function"))
        .map(([id, fn]) => [
          id,
          (fn as { Properties: { Environment?: { Variables?: Record<string, unknown> } } }).Properties
            .Environment?.Variables?.[ENV.geminiApiKeySecretArn],
        ])
        .filter(([, value]) => value !== undefined),
    );
    const secretImport = { "Fn::ImportValue": expect.stringMatching(new RegExp(exportOf(secret()))) };
    expect(holders).toEqual({
      [logicalIdOf(built.application.worker.function)]: secretImport,
      [logicalIdOf(built.application.api.functions.health)]: secretImport,
    });
  });

  it("leaves the Gemini tuning to the runtime's defaults when none is given", () => {
    const fn = app.findResources("AWS::Lambda::Function")[logicalIdOf(built.application.worker.function)] as {
      Properties: { Environment: { Variables: Record<string, unknown> } };
    };
    for (const key of GEMINI_TUNING_KEYS)
      expect(fn.Properties.Environment.Variables).not.toHaveProperty(ENV[key]);
  });

  it("outputs its ARN, saying how to set the key", () => {
    app.hasOutput("GeminiApiKeySecretArn", {
      Value: importOf(secret()),
      Description: Match.stringLikeRegexp("aws secretsmanager put-secret-value --secret-id"),
    });
  });

  describe("with Gemini tuning", () => {
    /** Bundling skipped: only the templates matter here. */
    const stacks = (geminiTuning: Record<string, string>) => {
      const bare = new App({ context: { "aws:cdk:bundling-stacks": [] } });
      const settings = { stage: STAGE, allowedOrigins: ["https://dashboard.example.com"], geminiTuning };
      return new AppStack(bare, "App", settings, new DataStack(bare, "Data", settings));
    };

    it("gives the worker each setting given, under its ENV name, and no other function any", () => {
      const tuning = {
        geminiImageModel: "gemini-test-image",
        geminiBudgetSeconds: "12",
        geminiAiVariants: "1",
      };
      const stack = stacks(tuning);
      const functions = Template.fromStack(stack).findResources("AWS::Lambda::Function");
      const workerId = stack.getLogicalId(stack.worker.function.node.defaultChild as CfnElement);
      const variables = (id: string) =>
        (functions[id] as { Properties: { Environment?: { Variables?: Record<string, unknown> } } })
          .Properties.Environment?.Variables ?? {};
      expect(variables(workerId)).toMatchObject({
        [ENV.geminiImageModel]: "gemini-test-image",
        [ENV.geminiBudgetSeconds]: "12",
        [ENV.geminiAiVariants]: "1",
      });
      const others = Object.keys(functions).filter(
        (id) =>
          id !== workerId &&
          Object.keys(variables(id)).some(
            (name) => name.startsWith("GEMINI_") && name !== ENV.geminiApiKeySecretArn,
          ),
      );
      expect(others).toEqual([]);
    }, 120_000);

    it("refuses a budget the worker's timeout cannot fit beside a photo", () => {
      expect(() => stacks({ geminiBudgetSeconds: String(GEMINI_SETTINGS.maxBudgetSeconds + 1) })).toThrow(
        `from 1 to ${GEMINI_SETTINGS.maxBudgetSeconds}`,
      );
    }, 120_000);
  });
});

describe("functions", () => {
  it("runs every function on Node.js 24, arm64", () => {
    const functions = resourcesOf(app, "AWS::Lambda::Function").filter(
      (fn) =>
        (fn.Properties.Runtime as string | undefined)?.startsWith("nodejs") &&
        fn.Properties.Handler === "index.handler",
    );
    expect(functions.length).toBe(OUR_FUNCTIONS);
    for (const fn of functions)
      expect(fn.Properties).toMatchObject({ Runtime: "nodejs24.x", Architectures: ["arm64"] });
  });

  it("gives the worker two malloc arenas and a fixed mmap threshold, so sharp keeps its threads and a bounded heap", () => {
    const worker = resourcesOf(app, "AWS::Lambda::Function").find((fn) => fn.Properties.MemorySize === 2048);
    if (!worker) throw new Error("no worker function");
    const variables = (worker.Properties.Environment as { Variables: Record<string, string> }).Variables;
    expect(variables).toMatchObject({ ...WORKER_PROCESS_ENV });
  });

  it("runs the local worker under `npm start` with the same malloc settings", () => {
    const { scripts } = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
      scripts: Record<string, string>;
    };
    for (const [name, value] of Object.entries(WORKER_PROCESS_ENV)) {
      expect(scripts.start).toContain(`${name}=${value} `);
    }
  });

  it("feeds the worker batches with partial batch failures and a concurrency ceiling", () => {
    app.hasResourceProperties("AWS::Lambda::EventSourceMapping", {
      BatchSize: ENHANCE_QUEUE_SETTINGS.batchSize,
      FunctionResponseTypes: ["ReportBatchItemFailures"],
      ScalingConfig: { MaximumConcurrency: ENHANCE_QUEUE_SETTINGS.maxConcurrency },
    });
  });

  it("lets the worker read raw/, write enhanced/ and use the Data API — nothing more on S3", () => {
    const workerRole = Object.entries(app.findResources("AWS::IAM::Policy")).find(([id]) =>
      id.startsWith("WorkerEnhanceServiceRoleDefaultPolicy"),
    );
    if (!workerRole) throw new Error("the worker has no policy");
    const statements = (
      workerRole[1] as {
        Properties: { PolicyDocument: { Statement: { Action: string | string[]; Resource: unknown }[] } };
      }
    ).Properties.PolicyDocument.Statement;
    const s3Actions = statements
      .flatMap((statement) => [statement.Action].flat())
      .filter((action) => action.startsWith("s3:"));
    expect(s3Actions.sort()).toEqual(["s3:GetObject", "s3:ListBucket", "s3:PutObject"]);
    const text = JSON.stringify(statements);
    expect(text).toContain(`/${RAW_PREFIX}*`);
    expect(text).toContain("/enhanced/*");
    expect(text).toContain("rds-data:ExecuteStatement");
    expect(text).not.toMatch(/"s3:\*"|s3:Delete/);
  });
});

describe("CORS", () => {
  const DASHBOARD = "https://dashboard.example.com";

  it("allows the configured origins alone on the HTTP API, with the shared methods and headers", () => {
    app.hasResourceProperties("AWS::ApiGatewayV2::Api", {
      CorsConfiguration: {
        AllowOrigins: [DASHBOARD],
        AllowMethods: [...CORS_SETTINGS.allowMethods],
        AllowHeaders: [...CORS_SETTINGS.allowHeaders],
        MaxAge: CORS_SETTINGS.maxAgeSeconds,
      },
    });
  });

  it("allows the configured origins alone to POST photos to the raw bucket", () => {
    data.hasResourceProperties("AWS::S3::Bucket", {
      CorsConfiguration: {
        CorsRules: [Match.objectLike({ AllowedMethods: ["POST"], AllowedOrigins: [DASHBOARD] })],
      },
    });
  });

  it("gives every function the same origins, for the handlers' CORS headers", () => {
    // Ours run on Node.js; CDK's BucketDeployment function (Python, index.handler too) serves no browser.
    const origins = resourcesOf(app, "AWS::Lambda::Function")
      .filter(
        (fn) =>
          fn.Properties.Handler === "index.handler" && String(fn.Properties.Runtime).startsWith("nodejs"),
      )
      .map(
        (fn) =>
          (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables[ENV.allowedOrigins],
      );
    expect(origins).toEqual(Array(OUR_FUNCTIONS).fill(DASHBOARD));
  });

  it("refuses a wildcard origin", () => {
    expect(() => new DataStack(new App(), "Wildcard", { stage: STAGE, allowedOrigins: ["*"] })).toThrow(
      "allowedOrigins must list the dashboard's origins, not a wildcard",
    );
  });

  describe("without allowedOrigins", () => {
    let defaults: { data: Template; app: Template };
    beforeAll(() => {
      // Bundling skipped: only the templates matter here.
      const bare = buildApp(
        { stage: "defaults" },
        { app: new App({ context: { "aws:cdk:bundling-stacks": [] } }) },
      );
      defaults = { data: Template.fromStack(bare.data), app: Template.fromStack(bare.application) };
    }, 120_000);

    it("allows the stage's CloudFront URL, where the dashboard is served, and that origin alone", () => {
      defaults.app.hasResourceProperties("AWS::ApiGatewayV2::Api", {
        CorsConfiguration: Match.objectLike({
          AllowOrigins: [
            {
              "Fn::Join": [
                "",
                ["https://", { "Fn::ImportValue": Match.stringLikeRegexp("StorageCdn.*DomainName") }],
              ],
            },
          ],
        }),
      });
      defaults.data.hasResourceProperties("AWS::S3::Bucket", {
        CorsConfiguration: {
          CorsRules: [
            Match.objectLike({
              AllowedOrigins: [
                {
                  "Fn::Join": [
                    "",
                    ["https://", { "Fn::GetAtt": [Match.stringLikeRegexp("^StorageCdn"), "DomainName"] }],
                  ],
                },
              ],
            }),
          ],
        },
      });
    });

    it("returns managed login to the stage's CloudFront URL: its callback page after sign-in, its root after sign-out", () => {
      const cdn = (path: string) => ({
        "Fn::Join": [
          "",
          ["https://", { "Fn::GetAtt": [Match.stringLikeRegexp("^StorageCdn"), "DomainName"] }, path],
        ],
      });
      defaults.data.hasResourceProperties("AWS::Cognito::UserPoolClient", {
        CallbackURLs: [cdn("/auth/callback")],
        LogoutURLs: [cdn("/")],
      });
    });
  });
});

describe("identity (Cognito)", () => {
  const DASHBOARD_URL = "https://dashboard.example.com/";
  const poolRef = () => ({ Ref: logicalIdOf(identity().userPool) });

  it("has one user pool and one app client", () => {
    data.resourceCountIs("AWS::Cognito::UserPool", 1);
    data.resourceCountIs("AWS::Cognito::UserPoolClient", 1);
  });

  it("requires passwords of at least 12 characters with lower and upper case, digits and symbols", () => {
    data.hasResourceProperties("AWS::Cognito::UserPool", {
      Policies: {
        PasswordPolicy: Match.objectLike({
          MinimumLength: 12,
          RequireLowercase: true,
          RequireUppercase: true,
          RequireNumbers: true,
          RequireSymbols: true,
        }),
      },
    });
  });

  it("requires MFA, with an authenticator app (TOTP) and never SMS", () => {
    data.hasResourceProperties("AWS::Cognito::UserPool", {
      MfaConfiguration: "ON",
      EnabledMfas: ["SOFTWARE_TOKEN_MFA"],
    });
  });

  it("is on the Essentials plan without threat protection (COG8 acknowledged: see nag-acknowledgments.ts)", () => {
    data.hasResourceProperties("AWS::Cognito::UserPool", {
      UserPoolTier: "ESSENTIALS",
      UserPoolAddOns: Match.absent(),
    });
    expect(
      acknowledgments(built.data, built.application)
        .filter(({ id }) => id === "AwsSolutions-COG8")
        .map(({ scope }) => scope.node.path),
    ).toEqual([identity().userPool.node.path]);
  });

  it("lets only admins create users: no self sign-up", () => {
    data.hasResourceProperties("AWS::Cognito::UserPool", {
      AdminCreateUserConfig: Match.objectLike({ AllowAdminCreateUserOnly: true }),
    });
  });

  it("signs users in by email address, case-insensitively", () => {
    data.hasResourceProperties("AWS::Cognito::UserPool", {
      UsernameAttributes: ["email"],
      UsernameConfiguration: { CaseSensitive: false },
    });
  });

  it("recovers accounts by verified email only", () => {
    data.hasResourceProperties("AWS::Cognito::UserPool", {
      AccountRecoverySetting: { RecoveryMechanisms: [{ Name: "verified_email", Priority: 1 }] },
    });
  });

  it("retains the pool and protects it from deletion, as it holds the users", () => {
    data.hasResource("AWS::Cognito::UserPool", {
      Properties: Match.objectLike({ DeletionProtection: "ACTIVE" }),
      DeletionPolicy: "Retain",
      UpdateReplacePolicy: "Retain",
    });
  });

  it("has exactly the groups of USER_GROUPS, in the pool, each described", () => {
    const names = Object.values(USER_GROUPS);
    data.resourceCountIs("AWS::Cognito::UserPoolGroup", names.length);
    for (const name of names) {
      data.hasResourceProperties("AWS::Cognito::UserPoolGroup", {
        GroupName: name,
        UserPoolId: poolRef(),
        Description: Match.stringLikeRegexp(".{20,}"),
      });
    }
  });

  it("gives the dashboard a public client: no secret, the authorization-code grant only (PKCE), no implicit grant", () => {
    data.hasResourceProperties("AWS::Cognito::UserPoolClient", {
      UserPoolId: poolRef(),
      GenerateSecret: false,
      AllowedOAuthFlowsUserPoolClient: true,
      AllowedOAuthFlows: ["code"],
      AllowedOAuthScopes: ["openid", "email", "profile"],
      SupportedIdentityProviders: ["COGNITO"],
    });
  });

  it("allows SRP sign-in and refresh alone on the client: no password or admin flows", () => {
    data.hasResourceProperties("AWS::Cognito::UserPoolClient", {
      ExplicitAuthFlows: ["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    });
  });

  it("never says whether a user exists", () => {
    data.hasResourceProperties("AWS::Cognito::UserPoolClient", { PreventUserExistenceErrors: "ENABLED" });
  });

  it("issues access and id tokens for an hour and refresh tokens for 30 days", () => {
    data.hasResourceProperties("AWS::Cognito::UserPoolClient", {
      AccessTokenValidity: 60,
      IdTokenValidity: 60,
      RefreshTokenValidity: 30 * 24 * 60,
      TokenValidityUnits: { AccessToken: "minutes", IdToken: "minutes", RefreshToken: "minutes" },
    });
  });

  it("returns the browser to the dashboard alone: its callback page after sign-in, its root after sign-out", () => {
    data.hasResourceProperties("AWS::Cognito::UserPoolClient", {
      CallbackURLs: [`${DASHBOARD_URL}auth/callback`],
      LogoutURLs: [DASHBOARD_URL],
    });
  });

  it("lets the dashboard ask for the scopes it sends, by the code grant alone", () => {
    data.hasResourceProperties("AWS::Cognito::UserPoolClient", {
      AllowedOAuthFlows: ["code"],
      AllowedOAuthScopes: Match.arrayWith(["openid", "email", "profile"]),
      GenerateSecret: false,
    });
  });

  it("serves managed login on a Cognito domain named after the stage and account, styled for the client", () => {
    data.hasResourceProperties("AWS::Cognito::UserPoolDomain", {
      UserPoolId: poolRef(),
      Domain: { "Fn::Join": ["", [`${resourceName(STAGE, "login")}-`, { Ref: "AWS::AccountId" }]] },
      ManagedLoginVersion: 2,
    });
    data.hasResourceProperties("AWS::Cognito::ManagedLoginBranding", {
      UserPoolId: poolRef(),
      ClientId: { Ref: logicalIdOf(identity().dashboardClient) },
      UseCognitoProvidedValues: true,
    });
  });

  it("outputs the pool id, the client id and the managed login URL", () => {
    app.hasOutput("UserPoolId", { Value: importOf(identity().userPool) });
    app.hasOutput("UserPoolClientId", { Value: importOf(identity().dashboardClient) });
    app.hasOutput("UserPoolDomainUrl", {
      Value: {
        "Fn::Join": [
          "",
          ["https://", importOf(identity().domain), ".auth.", { Ref: "AWS::Region" }, ".amazoncognito.com"],
        ],
      },
    });
  });

  it("refuses a return URL that is neither HTTPS nor localhost", () => {
    expect(
      () =>
        new DataStack(new App(), "PlainHttp", {
          stage: STAGE,
          allowedOrigins: ["https://dashboard.example.com"],
          dashboardUrls: ["http://dashboard.example.com/"],
        }),
    ).toThrow("refused: http://dashboard.example.com/");
  });
});

/** The resources of one API Gateway v2 API (the HTTP API's, or the push WebSocket API's), by logical id. */
const resourcesOfApi = (type: string, api: { node: { defaultChild?: unknown } }) =>
  Object.fromEntries(
    Object.entries(app.findResources(type)).filter(
      ([, resource]) =>
        JSON.stringify((resource as { Properties: { ApiId?: unknown } }).Properties.ApiId) ===
        JSON.stringify({ Ref: logicalIdOf(api) }),
    ),
  ) as Record<string, { Properties: Record<string, unknown> }>;

describe("HTTP API", () => {
  const httpApi = () => built.application.api.httpApi;
  const authorizerId = () => {
    const ids = Object.keys(resourcesOfApi("AWS::ApiGatewayV2::Authorizer", httpApi()));
    if (ids.length !== 1) throw new Error(`expected one authorizer, found ${ids.length}`);
    return ids[0];
  };

  it("has exactly the routes of the shared route table", () => {
    expect(Object.keys(resourcesOfApi("AWS::ApiGatewayV2::Route", httpApi()))).toHaveLength(ROUTES.length);
    for (const route of ROUTES) {
      app.hasResourceProperties("AWS::ApiGatewayV2::Route", { RouteKey: `${route.method} ${route.path}` });
    }
  });

  it("has one authorizer: JWT, accepting tokens of the user pool issued to the dashboard's client", () => {
    expect(Object.keys(resourcesOfApi("AWS::ApiGatewayV2::Authorizer", httpApi()))).toHaveLength(1);
    app.hasResourceProperties("AWS::ApiGatewayV2::Authorizer", {
      AuthorizerType: "JWT",
      JwtConfiguration: {
        Issuer: {
          "Fn::Join": [
            "",
            [
              "https://cognito-idp.",
              { Ref: "AWS::Region" },
              ".amazonaws.com/",
              importOf(identity().userPool),
            ],
          ],
        },
        Audience: [importOf(identity().dashboardClient)],
      },
    });
  });

  it("reads the token from the Authorization header", () => {
    expect(TOKEN_SOURCE).toBe("$request.header.Authorization");
    app.hasResourceProperties("AWS::ApiGatewayV2::Authorizer", { IdentitySource: [TOKEN_SOURCE] });
  });

  it("puts every signed-in route behind the user pool's JWT authorizer", () => {
    expect(SIGNED_IN_ROUTES.length).toBeGreaterThan(0);
    for (const route of SIGNED_IN_ROUTES) {
      app.hasResourceProperties("AWS::ApiGatewayV2::Route", {
        RouteKey: `${route.method} ${route.path}`,
        AuthorizationType: "JWT",
        AuthorizerId: { Ref: authorizerId() },
      });
    }
  });

  it("leaves every public route open (no authorizer), and only those", () => {
    expect(PUBLIC_ROUTES.length).toBeGreaterThan(0);
    for (const route of PUBLIC_ROUTES) {
      app.hasResourceProperties("AWS::ApiGatewayV2::Route", {
        RouteKey: `${route.method} ${route.path}`,
        AuthorizationType: "NONE",
        AuthorizerId: Match.absent(),
      });
    }
    const open = Object.values(resourcesOfApi("AWS::ApiGatewayV2::Route", httpApi()))
      .filter((route) => route.Properties.AuthorizationType !== "JWT")
      .map((route) => route.Properties.RouteKey)
      .sort();
    expect(open).toEqual(PUBLIC_ROUTES.map((route) => `${route.method} ${route.path}`).sort());
  });

  it("gives every signed-in route's function the user pool and client ids, to verify the token again", () => {
    expect(SIGNED_IN_ROUTES.length).toBeGreaterThan(0);
    const functions = app.findResources("AWS::Lambda::Function");
    for (const route of SIGNED_IN_ROUTES) {
      const fn = functions[logicalIdOf(built.application.api.functions[route.handler])] as
        | { Properties: { Environment: { Variables: Record<string, unknown> } } }
        | undefined;
      expect(fn?.Properties.Environment.Variables, route.handler).toMatchObject({
        [ENV.userPoolId]: {
          "Fn::ImportValue": expect.stringMatching(new RegExp(exportOf(identity().userPool))),
        },
        [ENV.userPoolClientId]: {
          "Fn::ImportValue": expect.stringMatching(new RegExp(exportOf(identity().dashboardClient))),
        },
      });
    }
  });

  it("throttles and writes access logs on the default stage", () => {
    app.hasResourceProperties("AWS::ApiGatewayV2::Stage", {
      StageName: "$default",
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100 },
      AccessLogSettings: { DestinationArn: Match.anyValue(), Format: Match.stringLikeRegexp("requestId") },
    });
  });
});

describe("push (WebSocket API)", () => {
  const push = () => built.application.push;
  const routes = () => Object.values(resourcesOfApi("AWS::ApiGatewayV2::Route", push().webSocketApi));
  const functionOf = (fn: { node: { defaultChild?: unknown } }) =>
    app.findResources("AWS::Lambda::Function")[logicalIdOf(fn)] as {
      Properties: { Environment: { Variables: Record<string, unknown> } };
    };
  /** Roles whose policies allow posting to the push API's connections. */
  const managingRoles = () =>
    resourcesOf(app, "AWS::IAM::Policy")
      .filter((policy) =>
        JSON.stringify(policy.Properties.PolicyDocument).includes("execute-api:ManageConnections"),
      )
      .flatMap((policy) => policy.Properties.Roles as unknown[])
      .map((role) => JSON.stringify(role))
      .sort();
  const roleOf = (fn: { role?: { node: { defaultChild?: unknown } } | undefined }) => {
    if (!fn.role) throw new Error("the function has no role");
    return JSON.stringify({ Ref: logicalIdOf(fn.role) });
  };

  it("has the routes of the shared table, each integrated with its own function", () => {
    expect(
      routes()
        .map((route) => route.Properties.RouteKey)
        .sort(),
    ).toEqual(PUSH.routes.map((route) => route.routeKey).sort());
    const integrations = resourcesOfApi("AWS::ApiGatewayV2::Integration", push().webSocketApi);
    for (const route of PUSH.routes) {
      const found = routes().find((candidate) => candidate.Properties.RouteKey === route.routeKey);
      const target = JSON.stringify(found?.Properties.Target);
      const [, integration] = Object.entries(integrations).find(([id]) => target.includes(id)) ?? [];
      expect(JSON.stringify(integration?.Properties.IntegrationUri), route.routeKey).toContain(
        logicalIdOf(push().functions[route.handler]),
      );
    }
  });

  it("authorises $connect alone, with a Lambda authorizer reading the token from the query string", () => {
    const authorizers = Object.values(resourcesOfApi("AWS::ApiGatewayV2::Authorizer", push().webSocketApi));
    expect(authorizers).toHaveLength(1);
    expect(authorizers[0]?.Properties).toMatchObject({
      AuthorizerType: "REQUEST",
      IdentitySource: [`route.request.querystring.${PUSH.tokenParameter}`],
    });
    expect(JSON.stringify(authorizers[0]?.Properties.AuthorizerUri)).toContain(
      logicalIdOf(push().authorizerFunction),
    );
    const byKey = Object.fromEntries(routes().map((route) => [route.Properties.RouteKey, route.Properties]));
    expect(byKey.$connect?.AuthorizationType).toBe("CUSTOM");
    // API Gateway authorises a WebSocket at $connect only: the other routes belong to an admitted connection.
    expect(byKey.$disconnect?.AuthorizationType ?? "NONE").toBe("NONE");
    expect(byKey.$default?.AuthorizationType ?? "NONE").toBe("NONE");
  });

  it("verifies the token with the user pool and client ids, as the HTTP API's functions do", () => {
    expect(functionOf(push().authorizerFunction).Properties.Environment.Variables).toMatchObject({
      [ENV.userPoolId]: {
        "Fn::ImportValue": expect.stringMatching(new RegExp(exportOf(identity().userPool))),
      },
      [ENV.userPoolClientId]: {
        "Fn::ImportValue": expect.stringMatching(new RegExp(exportOf(identity().dashboardClient))),
      },
    });
  });

  it("throttles and writes access logs on its stage, without the token", () => {
    const stages = Object.values(resourcesOfApi("AWS::ApiGatewayV2::Stage", push().webSocketApi));
    expect(stages).toHaveLength(1);
    expect(stages[0]?.Properties).toMatchObject({
      StageName: "live",
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100 },
      AccessLogSettings: {
        DestinationArn: expect.anything(),
        Format: expect.stringContaining("connectionId"),
      },
    });
    expect(JSON.stringify(stages[0]?.Properties.AccessLogSettings)).not.toContain("querystring");
  });

  it("lets exactly the worker, the reconciler and the review functions post to connections", () => {
    const { worker, reconciler, api } = built.application;
    expect(managingRoles()).toEqual(
      [
        roleOf(worker.function),
        roleOf(reconciler.function),
        roleOf(api.functions["review-product"]),
        roleOf(api.functions["review-products"]),
      ].sort(),
    );
    for (const fn of [worker.function, reconciler.function, api.functions["review-product"]]) {
      expect(JSON.stringify(functionOf(fn).Properties.Environment.Variables[ENV.pushEndpoint])).toMatch(
        new RegExp(`https://.*${logicalIdOf(push().webSocketApi)}.*execute-api.*/live`),
      );
    }
  });

  it("tells the dashboard where to connect, and lets its page connect there", () => {
    app.hasOutput("PushUrl", {
      Value: Match.objectLike({
        "Fn::Join": ["", Match.arrayWith(["wss://", { Ref: logicalIdOf(push().webSocketApi) }])],
      }),
    });
    const csp = JSON.stringify(resourcesOf(data, "AWS::CloudFront::ResponseHeadersPolicy"));
    expect(csp).toContain("wss://*.execute-api.");
  });
});

describe("operations", () => {
  it("applies migrations on deploy through a custom resource that changes with the SQL files", () => {
    app.hasResourceProperties("Custom::PixelLabSchema", { migrationsChecksum: migrationsChecksum() });
  });

  it("runs the reconciler on a schedule", () => {
    app.hasResourceProperties("AWS::Events::Rule", {
      ScheduleExpression: `rate(${RECONCILE_SETTINGS.intervalMinutes} minutes)`,
      State: "ENABLED",
      Targets: [
        Match.objectLike({ Arn: { "Fn::GetAtt": [Match.stringLikeRegexp("^ReconcilerReconcile"), "Arn"] } }),
      ],
    });
  });

  it("alarms on a non-empty DLQ, worker errors and an ageing queue", () => {
    app.resourceCountIs("AWS::CloudWatch::Alarm", 3);
    for (const metric of ["ApproximateNumberOfMessagesVisible", "Errors", "ApproximateAgeOfOldestMessage"]) {
      app.hasResourceProperties("AWS::CloudWatch::Alarm", {
        MetricName: metric,
        AlarmActions: [Match.anyValue()],
      });
    }
  });
});

describe("bundles", () => {
  const assetDirectory = (
    template: Template,
    predicate: (fn: { Properties: Record<string, unknown> }) => boolean,
  ) => {
    const fn = resourcesOf(template, "AWS::Lambda::Function").find(predicate);
    if (!fn) throw new Error("no such function");
    const key = String((fn.Properties.Code as { S3Key: string }).S3Key).replace(/\.zip$/, "");
    return join(built.app.outdir, `asset.${key}`);
  };
  const filesUnder = (directory: string): string[] =>
    readdirSync(directory, { recursive: true, encoding: "utf8" }).filter((file) =>
      statSync(join(directory, file)).isFile(),
    );

  it("carries sharp's linux-arm64 binaries in the worker, and no other platform's", () => {
    const directory = assetDirectory(app, (fn) => fn.Properties.MemorySize === 2048);
    const files = filesUnder(directory);
    expect(files).toContain("index.mjs");
    expect(files.some((file) => /@img\/sharp-libvips-linux-arm64\/lib\/libvips-cpp\.so/.test(file))).toBe(
      true,
    );
    expect(
      files.some((file) => /@img\/sharp-linux-arm64\/lib\/sharp-linux-arm64[-.0-9]*\.node$/.test(file)),
    ).toBe(true);
    expect(files.filter((file) => /darwin|win32|linux-x64|linuxmusl/.test(file))).toEqual([]);
    const bundled = JSON.parse(readFileSync(join(directory, "node_modules/sharp/package.json"), "utf8"));
    const tested = JSON.parse(
      readFileSync(new URL("../../node_modules/sharp/package.json", import.meta.url), "utf8"),
    );
    expect(bundled.version).toBe(tested.version);
  });

  it("keeps sharp out of the API functions' bundles (they validate requests, they never touch pixels)", () => {
    const apiFunctions = resourcesOf(app, "AWS::Lambda::Function").filter(
      (fn) =>
        fn.Properties.Handler === "index.handler" &&
        fn.Properties.MemorySize === 512 &&
        Number(fn.Properties.Timeout) === 29,
    );
    expect(apiFunctions).toHaveLength(ROUTES.length);
    for (const fn of apiFunctions) {
      const directory = assetDirectory(app, (candidate) => candidate === fn);
      expect(readFileSync(join(directory, "index.mjs"), "utf8")).not.toMatch(
        /from\s*["']sharp["']|require\(["']sharp["']\)/,
      );
      expect(existsSync(join(directory, "node_modules"))).toBe(false);
    }
  });

  it("ships the migration files beside the migration runner", () => {
    const directory = assetDirectory(app, (fn) => Number(fn.Properties.Timeout) === 300);
    expect(existsSync(join(directory, "001_initial.sql"))).toBe(true);
  });
});

describe("cdk-nag (AWS Solutions)", () => {
  it("acknowledges each accepted finding by its exact id, with a reason", () => {
    const list = acknowledgments(built.data, built.application);
    expect(list.length).toBeGreaterThan(0);
    for (const { id, reason } of list) {
      expect(id).toMatch(/^AwsSolutions-[A-Z]+\d+(\[.+\])?$/);
      expect(reason.length).toBeGreaterThan(60);
    }
    expect(new Set(list.map(({ scope, id }) => `${scope.node.path} ${id}`)).size).toBe(list.length);
  });

  it("fails synth on the same app without those acknowledgments", () => {
    const bare = new App();
    const settings = { stage: STAGE, allowedOrigins: ["https://dashboard.example.com"] };
    const dataStack = new DataStack(bare, "Data", settings);
    new AppStack(bare, "App", settings, dataStack);
    Validations.of(bare).addPlugins(new AwsSolutionsChecks(bare));
    expect(() => bare.synth()).toThrow(/[Vv]alidation/);
  }, 120_000);

  /**
   * Synthesises the app (bundling skipped) with every acknowledgment but `withheld`, and returns cdk-nag's
   * findings from the validation report: rule id → the paths of the constructs that raise it.
   */
  const findingsWithout = (withheld: string[]) => {
    const bare = new App({ context: { "aws:cdk:bundling-stacks": [] } });
    const settings = { stage: STAGE, allowedOrigins: ["https://dashboard.example.com"] };
    const dataStack = new DataStack(bare, "Data", settings);
    const appStack = new AppStack(bare, "App", settings, dataStack);
    Validations.of(bare).addPlugins(new AwsSolutionsChecks(bare));
    for (const { scope, id, reason } of acknowledgments(dataStack, appStack)) {
      if (!withheld.includes(id)) Validations.of(scope).acknowledge({ id, reason });
    }
    try {
      bare.synth();
    } catch {
      // The report below says why.
    }
    const report = JSON.parse(readFileSync(join(bare.outdir, "validation-report.json"), "utf8")) as {
      pluginReports: {
        pluginName: string;
        violations: { ruleName: string; violatingConstructs: { constructPath: string }[] }[];
      }[];
    };
    const findings: Record<string, string[]> = {};
    for (const plugin of report.pluginReports) {
      for (const violation of plugin.violations) {
        findings[violation.ruleName] = [
          ...(findings[violation.ruleName] ?? []),
          ...violation.violatingConstructs.map(({ constructPath }) => constructPath),
        ].sort();
      }
    }
    return { findings, appStack, dataStack };
  };

  it("leaves no finding, error or warning, unacknowledged", () => {
    expect(findingsWithout([]).findings).toEqual({});
  }, 120_000);

  it("finds no route without authorization but the public ones, and the user pool's plan alone on Cognito", () => {
    const { findings, appStack, dataStack } = findingsWithout(["AwsSolutions-APIG4", "AwsSolutions-COG8"]);
    expect(PUBLIC_ROUTES.length).toBeGreaterThan(0);
    expect(findings).toEqual({
      "AwsSolutions-APIG4": [
        ...PUBLIC_ROUTES.map(
          (route) => (appStack.api.routes[route.handler].node.defaultChild as CfnElement).node.path,
        ),
        // A WebSocket is authorised at $connect; its other routes cannot take an authorizer.
        ...["$disconnect", "$default"].map(
          (routeKey) =>
            (appStack.push.webSocketApi.node.findChild(`${routeKey}-Route`).node.defaultChild as CfnElement)
              .node.path,
        ),
      ].sort(),
      "AwsSolutions-COG8": [(dataStack.identity.userPool.node.defaultChild as CfnElement).node.path],
    });
  }, 120_000);

  it("acknowledges SMG4 (no rotation) on the Gemini API key's secret, which raises it, with why", () => {
    const secret = built.data.geminiKey.secret;
    const onSecret = acknowledgments(built.data, built.application).filter(
      ({ id, scope }) => id === "AwsSolutions-SMG4" && scope.node.path.startsWith(secret.node.path),
    );
    expect(onSecret.map(({ scope }) => scope)).toEqual([secret]);
    expect(onSecret[0]?.reason).toMatch(/Google/);
    const { findings, dataStack } = findingsWithout(["AwsSolutions-SMG4"]);
    expect(findings["AwsSolutions-SMG4"]).toContain(
      (dataStack.geminiKey.secret.node.defaultChild as CfnElement).node.path,
    );
  }, 120_000);

  it("acknowledges the deployment function's findings on CDK's function and its role alone, which raise them", () => {
    const handler = built.application.dashboard.handler;
    const onDeployment = acknowledgments(built.data, built.application).filter(({ scope }) =>
      scope.node.path.startsWith(handler.node.path),
    );
    expect(onDeployment.map(({ id }) => id)).toContain("AwsSolutions-L1");
    for (const { reason } of onDeployment) expect(reason).toMatch(/aws-cdk-lib's own BucketDeployment/);
    // L1 (runtime) is acknowledged on that function alone: without it, that function alone is found.
    expect(
      acknowledgments(built.data, built.application)
        .filter(({ id }) => id === "AwsSolutions-L1")
        .map(({ scope }) => scope),
    ).toEqual([handler]);
    const { findings, appStack } = findingsWithout(["AwsSolutions-L1"]);
    expect(findings).toEqual({
      "AwsSolutions-L1": [(appStack.dashboard.handler.node.defaultChild as CfnElement).node.path],
    });
  }, 120_000);

  it("acknowledges APIG4 on the public routes and push's routes after $connect alone, each on its own route", () => {
    const scopes = acknowledgments(built.data, built.application)
      .filter(({ id }) => id === "AwsSolutions-APIG4")
      .map(({ scope }) => scope.node.path)
      .sort();
    expect(PUBLIC_ROUTES.length).toBeGreaterThan(0);
    expect(scopes).toEqual(
      [
        ...PUBLIC_ROUTES.map((route) => built.application.api.routes[route.handler].node.path),
        ...["$disconnect", "$default"].map(
          (routeKey) => built.application.push.webSocketApi.node.findChild(`${routeKey}-Route`).node.path,
        ),
      ].sort(),
    );
  });
});
