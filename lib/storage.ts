import { Aws, Duration, RemovalPolicy } from "aws-cdk-lib";
import {
  Function as CloudFrontFunction,
  Distribution,
  FunctionCode,
  FunctionEventType,
  FunctionRuntime,
  HeadersFrameOption,
  HeadersReferrerPolicy,
  HttpVersion,
  PriceClass,
  ResponseHeadersPolicy,
  ViewerProtocolPolicy,
} from "aws-cdk-lib/aws-cloudfront";
import { S3BucketOrigin } from "aws-cdk-lib/aws-cloudfront-origins";
import {
  BlockPublicAccess,
  Bucket,
  BucketEncryption,
  HttpMethods,
  ObjectOwnership,
} from "aws-cdk-lib/aws-s3";
import { Construct } from "constructs";
import {
  BUCKETS,
  ENHANCED_PREFIX,
  RAW_PREFIX,
  RAW_RETENTION_DAYS,
  resourceName,
  UPLOAD_CORS,
} from "../lambdas/names.ts";

export interface StorageProps {
  stage: string;
  /**
   * Browser origins allowed to POST photos and call the API: the dashboard's. Default: this stage's CloudFront
   * URL, where the dashboard is served beside the images; never `*`.
   */
  allowedOrigins?: string[];
  /**
   * Origins the dashboard may call besides its own and the raw bucket's (the content security policy's
   * `connect-src`): the HTTP API's and Cognito's managed login.
   */
  dashboardConnectSources?: string[];
}

/**
 * The dashboard bucket's logical name. Only the CDK app writes it (the handlers never read it), so it is
 * defined here rather than in `lambdas/names.ts`; named like the others so the deployment in the application
 * stack can name it without a cross-stack reference.
 */
export const DASHBOARD_BUCKET = "dashboard";

type BucketLogicalName = (typeof BUCKETS)[keyof typeof BUCKETS] | typeof DASHBOARD_BUCKET;

/** The page every client route of the dashboard is (`/gallery`, `/product/{id}`): the bucket's `index.html`. */
export const DASHBOARD_INDEX = "index.html";

/**
 * Viewer-request code on the dashboard's behaviour only: a path whose last segment has no extension is a
 * route of the single-page app, so it is answered with `index.html`. Anything with an extension (a bundle
 * file, `config.json`) is asked of the bucket as it is, so a missing one stays a miss, and the images'
 * behaviour never sees this code. Error responses on the distribution would do the same for every path and
 * turn a missing image into the page too.
 */
export const SPA_ROUTING_CODE = `function handler(event) {
  var request = event.request;
  var last = request.uri.substring(request.uri.lastIndexOf("/") + 1);
  if (last.indexOf(".") === -1) request.uri = "/${DASHBOARD_INDEX}";
  return request;
}`;

/** Bucket names are global: the shared logical name, made unique by account and region. */
const bucketName = (stage: string, logicalName: string) =>
  `${resourceName(stage, logicalName)}-${Aws.ACCOUNT_ID}-${Aws.REGION}`;

const securedBucket = {
  blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
  encryption: BucketEncryption.S3_MANAGED,
  enforceSSL: true,
  objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
  removalPolicy: RemovalPolicy.RETAIN,
} as const;

/**
 * The raw, enhanced and dashboard buckets, their access-log bucket, and one CloudFront distribution with
 * Origin Access Control in front of the dashboard (the default behaviour) and the enhanced images (`/enhanced/*`,
 * the keys' own prefix): every image URL the API returns is a CloudFront URL, on the dashboard's origin.
 */
export class Storage extends Construct {
  readonly stage: string;
  readonly rawBucket: Bucket;
  readonly enhancedBucket: Bucket;
  /** The built dashboard and its `config.json`, written by the application stack's deployment. */
  readonly dashboardBucket: Bucket;
  readonly logBucket: Bucket;
  readonly distribution: Distribution;
  /** Rewrites the dashboard's client routes to `index.html` (see SPA_ROUTING_CODE). */
  readonly spaRouting: CloudFrontFunction;
  /** HSTS, nosniff, frame DENY, no referrer and the dashboard's content security policy. */
  readonly dashboardHeaders: ResponseHeadersPolicy;
  /** The browser origins CORS allows, here and on the HTTP API. */
  readonly allowedOrigins: string[];

  constructor(scope: Construct, id: string, props: StorageProps) {
    super(scope, id);
    this.stage = props.stage;
    this.logBucket = new Bucket(this, "AccessLogs", {
      ...securedBucket,
      // CloudFront's standard logs are written with ACLs, so this one bucket keeps them on.
      objectOwnership: ObjectOwnership.OBJECT_WRITER,
      lifecycleRules: [{ expiration: Duration.days(90) }],
    });

    this.rawBucket = new Bucket(this, "Raw", {
      ...securedBucket,
      bucketName: bucketName(props.stage, BUCKETS.raw),
      serverAccessLogsBucket: this.logBucket,
      serverAccessLogsPrefix: "s3/raw/",
      lifecycleRules: [
        // Originals are only needed until they are enhanced (and for re-enhancing); a seller can re-upload.
        { prefix: RAW_PREFIX, expiration: Duration.days(RAW_RETENTION_DAYS) },
        { abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
    });

    this.enhancedBucket = new Bucket(this, "Enhanced", {
      ...securedBucket,
      bucketName: bucketName(props.stage, BUCKETS.enhanced),
      serverAccessLogsBucket: this.logBucket,
      serverAccessLogsPrefix: "s3/enhanced/",
      lifecycleRules: [{ abortIncompleteMultipartUploadAfter: Duration.days(1) }],
    });

    this.dashboardBucket = new Bucket(this, "Dashboard", {
      ...securedBucket,
      bucketName: bucketName(props.stage, DASHBOARD_BUCKET),
      serverAccessLogsBucket: this.logBucket,
      serverAccessLogsPrefix: "s3/dashboard/",
    });

    this.spaRouting = new CloudFrontFunction(this, "SpaRouting", {
      comment: "Answers the dashboard's client routes with index.html",
      code: FunctionCode.fromInline(SPA_ROUTING_CODE),
      runtime: FunctionRuntime.JS_2_0,
    });

    this.dashboardHeaders = new ResponseHeadersPolicy(this, "DashboardHeaders", {
      comment: `Pixel Lab ${props.stage}: the dashboard's security headers`,
      securityHeadersBehavior: {
        contentSecurityPolicy: {
          contentSecurityPolicy: dashboardContentSecurityPolicy(
            [
              // Browser uploads: the presigned POST goes to the raw bucket's virtual-hosted URL.
              // Spelled from the bucket's name, not its attribute: the raw bucket's CORS rule already names this
              // distribution, and the attribute would make the two depend on each other.
              rawBucketOrigin(props.stage),
              ...(props.dashboardConnectSources ?? []),
            ],
            // The seller's original photo, beside its variants: a presigned GET of the raw bucket.
            [rawBucketOrigin(props.stage)],
          ),
          override: true,
        },
        strictTransportSecurity: {
          accessControlMaxAge: Duration.days(365),
          includeSubdomains: true,
          override: true,
        },
        contentTypeOptions: { override: true },
        frameOptions: { frameOption: HeadersFrameOption.DENY, override: true },
        referrerPolicy: { referrerPolicy: HeadersReferrerPolicy.NO_REFERRER, override: true },
      },
    });

    this.distribution = new Distribution(this, "Cdn", {
      comment: `Pixel Lab ${props.stage}: the dashboard and enhanced images`,
      defaultRootObject: DASHBOARD_INDEX,
      defaultBehavior: {
        origin: S3BucketOrigin.withOriginAccessControl(this.dashboardBucket),
        viewerProtocolPolicy: ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
        functionAssociations: [{ function: this.spaRouting, eventType: FunctionEventType.VIEWER_REQUEST }],
        responseHeadersPolicy: this.dashboardHeaders,
      },
      additionalBehaviors: {
        // Image keys start with enhanced/ and the API appends them to this distribution's URL, unchanged.
        [`/${ENHANCED_PREFIX}*`]: {
          origin: S3BucketOrigin.withOriginAccessControl(this.enhancedBucket),
          viewerProtocolPolicy: ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
        },
      },
      httpVersion: HttpVersion.HTTP2_AND_3,
      priceClass: PriceClass.PRICE_CLASS_100,
      enableLogging: true,
      logBucket: this.logBucket,
      logFilePrefix: "cloudfront/",
    });

    if (props.allowedOrigins?.some((origin) => origin.includes("*"))) {
      throw new Error("allowedOrigins must list the dashboard's origins, not a wildcard");
    }
    this.allowedOrigins = props.allowedOrigins ?? [this.assetsBaseUrl];
    // After the distribution: its URL is the default origin.
    this.rawBucket.addCorsRule({
      allowedMethods: UPLOAD_CORS.allowedMethods.map((method) => HttpMethods[method]),
      allowedOrigins: this.allowedOrigins,
      allowedHeaders: ["*"],
      exposedHeaders: [...UPLOAD_CORS.exposedHeaders],
      maxAge: UPLOAD_CORS.maxAgeSeconds,
    });
  }

  /**
   * `arn:…:s3:::{bucket}/{prefix}*`, built from the bucket's name rather than a cross-stack reference,
   * so a grant in the application stack reads the same in every stage and needs no export.
   */
  objectsArn(logicalName: BucketLogicalName, prefix: string): string {
    return `arn:${Aws.PARTITION}:s3:::${bucketName(this.stage, logicalName)}/${prefix}*`;
  }

  /** The same ARN as cdk-nag prints it in an IAM5 finding id. */
  objectsArnAsFinding(logicalName: BucketLogicalName, prefix: string): string {
    return `arn:<AWS::Partition>:s3:::${resourceName(this.stage, logicalName)}-<AWS::AccountId>-<AWS::Region>/${prefix}*`;
  }

  /** The dashboard bucket's name, built as its ARN is (see objectsArn): no export needed to write to it. */
  get dashboardBucketName(): string {
    return bucketName(this.stage, DASHBOARD_BUCKET);
  }

  /** The CloudFront URL prefix image keys (`enhanced/...`) are appended to; the dashboard is served at its `/`. */
  get assetsBaseUrl(): string {
    return `https://${this.distribution.distributionDomainName}`;
  }
}

/** The raw bucket's regional virtual-hosted origin, where presigned POSTs and GETs of originals go. */
const rawBucketOrigin = (stage: string): string =>
  `https://${bucketName(stage, BUCKETS.raw)}.s3.${Aws.REGION}.${Aws.URL_SUFFIX}`;

/**
 * The dashboard's content security policy: its own origin for everything, plus `connectSources` for fetch
 * (the API, managed login's token endpoint, the raw bucket for uploads). No inline script or style: Vite's
 * build emits neither. Images come from this same distribution (`'self'`), `data:` for inline icons, and
 * `imageSources` (the raw bucket, for the seller's original photo).
 */
export const dashboardContentSecurityPolicy = (
  connectSources: string[],
  imageSources: string[] = [],
): string =>
  [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    ["img-src 'self' data:", ...imageSources].join(" "),
    `connect-src 'self' ${connectSources.join(" ")}`,
    "frame-ancestors 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "object-src 'none'",
  ].join("; ");
