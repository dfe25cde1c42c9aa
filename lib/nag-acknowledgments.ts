import { type CfnElement, DefaultStackSynthesizer, Validations } from "aws-cdk-lib";
import type { IConstruct } from "constructs";
import { BUCKETS, ENHANCED_PREFIX, RAW_PREFIX } from "../lambdas/names.ts";
import type { AppStack, DataStack } from "./stacks.ts";
import { DASHBOARD_BUCKET } from "./storage.ts";

export interface Acknowledgment {
  scope: IConstruct;
  id: string;
  reason: string;
}

const BASIC_EXECUTION_ROLE =
  "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]";

/**
 * Every cdk-nag (AWS Solutions) finding this design accepts, on the narrowest construct that raises
 * it, with the reason a reviewer would want. Anything not listed here fails synth.
 */
export const acknowledgments = (data: DataStack, application: AppStack): Acknowledgment[] => {
  const { storage, database, identity, geminiKey } = data;
  const iam5 = (resource: string) => `AwsSolutions-IAM5[Resource::${resource}]`;
  const rawObjects = iam5(storage.objectsArnAsFinding(BUCKETS.raw, RAW_PREFIX));
  const enhancedObjects = iam5(storage.objectsArnAsFinding(BUCKETS.enhanced, ENHANCED_PREFIX));
  const migrate = application.migrations.function;
  const migrateVersions = iam5(
    `<${application.getLogicalId(migrate.node.defaultChild as CfnElement)}.Arn>:*`,
  );
  // BucketDeployment copies from the bootstrap's asset bucket (its name carries the bootstrap qualifier).
  const qualifier =
    application.node.tryGetContext("@aws-cdk/core:bootstrapQualifier") ??
    DefaultStackSynthesizer.DEFAULT_QUALIFIER;
  const assetObjects = iam5(
    `arn:<AWS::Partition>:s3:::cdk-${qualifier}-assets-<AWS::AccountId>-<AWS::Region>/*`,
  );
  const pushApi = application.push.webSocketApi.node.defaultChild as CfnElement;
  const pushConnections = iam5(
    `arn:<AWS::Partition>:execute-api:<AWS::Region>:<AWS::AccountId>:<${application.getLogicalId(pushApi)}>/live/*/@connections/*`,
  );
  const deployment = application.dashboard;
  const deploymentRole = deployment.pages.handlerRole;
  const ofDeployment =
    "The role of aws-cdk-lib's own BucketDeployment function (it copies the built dashboard into its bucket), whose policy CDK writes from the deployment's grants:";
  const deploymentGrants: Acknowledgment[] = [
    ...["s3:GetObject*", "s3:GetBucket*", "s3:List*"].map((action) => ({
      scope: deploymentRole,
      id: `AwsSolutions-IAM5[Action::${action}]`,
      reason: `${ofDeployment} ${action} to read the zipped build from the CDK asset bucket and to compare it with the dashboard bucket (aws s3 sync), on those two buckets alone.`,
    })),
    ...["s3:DeleteObject*", "s3:Abort*"].map((action) => ({
      scope: deploymentRole,
      id: `AwsSolutions-IAM5[Action::${action}]`,
      reason: `${ofDeployment} ${action} to prune files the new build no longer has and to abort a failed multipart upload, on the dashboard bucket alone.`,
    })),
    {
      scope: deploymentRole,
      id: assetObjects,
      reason: `${ofDeployment} read on the CDK bootstrap's asset bucket, where cdk deploy uploads the zipped build; its keys are content hashes, so the grant is the bucket's objects.`,
    },
    {
      scope: deploymentRole,
      id: iam5(data.storage.objectsArnAsFinding(DASHBOARD_BUCKET, "")),
      reason: `${ofDeployment} it writes and prunes every file of the dashboard bucket, which holds nothing but the dashboard's build and its config.json.`,
    },
    {
      scope: deploymentRole,
      id: "AwsSolutions-IAM5[Resource::*]",
      reason: `${ofDeployment} cloudfront:CreateInvalidation and GetInvalidation, to drop CloudFront's copies of index.html and config.json after a deploy; CDK grants them on all distributions ("*") and offers no narrower grant.`,
    },
    {
      scope: deployment.handler,
      id: "AwsSolutions-L1",
      reason:
        "aws-cdk-lib's own BucketDeployment function: its Python runtime and AWS CLI layer are pinned by aws-cdk-lib and move to newer ones as aws-cdk-lib is upgraded; it runs only during a deploy.",
    },
  ];
  return [
    ...deploymentGrants,
    {
      scope: data,
      id: BASIC_EXECUTION_ROLE,
      reason:
        "Only aws-cdk-lib's own bucket-notification handler runs in this stack; its role is AWSLambdaBasicExecutionRole for its logs and nothing else.",
    },
    {
      scope: application,
      id: BASIC_EXECUTION_ROLE,
      reason:
        "AWSLambdaBasicExecutionRole grants only logs:CreateLogGroup/CreateLogStream/PutLogEvents; every function (ours, and aws-cdk-lib's BucketDeployment and Provider functions) writes to its own log group. It is the narrowest managed policy for Lambda logging and AWS keeps it current.",
    },
    {
      scope: application.api,
      id: rawObjects,
      reason:
        "Presigning an upload needs s3:PutObject on the object keys under raw/, and reading a product's original (get-product's HEAD and presigned GET, enhance-product's HEAD) s3:GetObject there; keys are generated per upload (raw/{productId}/{uploadId}.{ext}), so each grant is the raw/ prefix, nothing wider.",
    },
    {
      scope: application.worker,
      id: rawObjects,
      reason:
        "The worker reads any original under raw/ (keys are per product and upload): the raw/ prefix, nothing wider.",
    },
    {
      scope: application.worker,
      id: enhancedObjects,
      reason:
        "The worker writes variants under enhanced/{productId}/{sequence}/: the enhanced/ prefix, nothing wider.",
    },
    {
      scope: application.reconciler,
      id: rawObjects,
      reason:
        "The reconciler HEADs uploads under raw/ to find photos whose notification was lost: the raw/ prefix, nothing wider.",
    },
    {
      scope: application.migrations,
      id: migrateVersions,
      reason:
        "The CDK custom resource Provider framework may invoke any version of the migration function (<arn>:*); it is generated by aws-cdk-lib and limited to that one function.",
    },
    {
      scope: database.cluster,
      id: "AwsSolutions-SMG4",
      reason:
        "Rotating the cluster secret needs a rotation Lambda with network access to the cluster (a Secrets Manager VPC endpoint in this NAT-less VPC), not built yet. The secret is read only by the Data API on behalf of the migration function, the one function granted it.",
    },
    {
      scope: database.node.findChild("AppSecret"),
      id: "AwsSolutions-SMG4",
      reason:
        "The app user's password is set from this secret by the migration function on every deploy; rotating it needs a rotation Lambda with network access to the cluster (as for the cluster secret). It is read only by the Data API on behalf of the API, worker, reconciler and migration functions.",
    },
    {
      scope: geminiKey.secret,
      id: "AwsSolutions-SMG4",
      reason:
        "A third-party API key issued by Google: no rotation Lambda can mint a new one, since only Google AI Studio issues keys. An operator rotates it by issuing a new key there and putting it in this secret (put-secret-value), then revoking the old one; the worker, the one function that reads it, picks the new value up at its next cold start or when its cached copy expires.",
    },
    {
      scope: database.cluster,
      id: "AwsSolutions-RDS11",
      reason:
        "No security group admits anything to the cluster: it is reached only through the Data API over HTTPS, so a non-default port would hide nothing.",
    },
    {
      scope: database.cluster,
      id: "AwsSolutions-RDS14",
      reason:
        "Recovery is point-in-time restore from 7 days of continuous backups; Backtrack would bill every change record of a write-heavy pipeline for a faster rewind we do not need.",
    },
    ...(["health", "openapi"] as const).map((handler) => ({
      scope: application.api.routes[handler],
      id: "AwsSolutions-APIG4",
      reason:
        handler === "health"
          ? "GET /health is public by design: uptime checks call it without a token. It answers only whether the database, buckets and queue respond (and how fast), never product or user data; the stage's throttle bounds how often anyone can call it."
          : "GET /openapi.json is public by design: it is the API's description (paths and schemas, the same for every caller), so clients and docs can be built before anyone signs in; it returns no data, and every route it describes that does needs a token.",
    })),
    {
      scope: application,
      id: pushConnections,
      reason:
        "Posting a change to open dashboards needs execute-api:ManageConnections on the push API's connections; connection ids are made by API Gateway per page, so the grant is that one API's stage's @connections/*, given to the worker, the reconciler and the two review functions alone (aws-cdk-lib's grantManagementApiAccess).",
    },
    ...(["disconnect", "message"] as const).map((handler) => ({
      scope: application.push.webSocketApi.node.findChild(
        handler === "disconnect" ? "$disconnect-Route" : "$default-Route",
      ),
      id: "AwsSolutions-APIG4",
      reason:
        "API Gateway authorises a WebSocket once, at $connect (here with the Lambda authorizer verifying the user pool's token); $disconnect and $default belong to a connection already admitted and cannot carry an authorizer. $default only accepts the page's pings.",
    })),
    {
      scope: identity.userPool,
      id: "AwsSolutions-COG8",
      reason:
        "Essentials, not Plus: Plus bills every monthly active user (about $0.02/MAU on top of Essentials, with no free tier) for threat protection whose main gains, adaptive step-up MFA and blocking sign-ins with leaked passwords, matter little here: every user is created by an admin and must pass TOTP MFA at every sign-in. Revisit if self sign-up or a large user base arrives.",
    },
    {
      scope: storage.distribution,
      id: "AwsSolutions-CFR1",
      reason: "Product images are public and sold to buyers anywhere: there is no country to exclude.",
    },
    {
      scope: storage.distribution,
      id: "AwsSolutions-CFR2",
      reason:
        "The origin is a private bucket of static images behind Origin Access Control, with no application logic to protect; a WAF web ACL can be attached when abuse is seen.",
    },
    {
      scope: storage.distribution,
      id: "AwsSolutions-CFR4",
      reason:
        "The distribution uses the default *.cloudfront.net certificate, whose TLS policy CloudFront fixes; a custom domain with an ACM certificate (see README) sets TLSv1.2_2021.",
    },
  ];
};

export const acknowledgeFindings = (data: DataStack, application: AppStack): Acknowledgment[] => {
  const list = acknowledgments(data, application);
  for (const { scope, id, reason } of list) Validations.of(scope).acknowledge({ id, reason });
  return list;
};
