import { Aws, Duration, RemovalPolicy } from "aws-cdk-lib";
import { Distribution, HttpVersion, PriceClass, ViewerProtocolPolicy } from "aws-cdk-lib/aws-cloudfront";
import { S3BucketOrigin } from "aws-cdk-lib/aws-cloudfront-origins";
import {
  BlockPublicAccess,
  Bucket,
  BucketEncryption,
  HttpMethods,
  ObjectOwnership,
} from "aws-cdk-lib/aws-s3";
import { Construct } from "constructs";
import { BUCKETS, RAW_PREFIX, RAW_RETENTION_DAYS, resourceName } from "../lambdas/names.ts";

export interface StorageProps {
  stage: string;
  /**
   * Browser origins allowed to POST photos and call the API: the dashboard's. Default: this stage's CloudFront
   * URL, where the dashboard is served beside the images; never `*`.
   */
  allowedOrigins?: string[];
}

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
 * The raw and enhanced buckets, their access-log bucket, and CloudFront (Origin Access Control) in
 * front of the enhanced one: every image URL the API returns is a CloudFront URL.
 */
export class Storage extends Construct {
  readonly stage: string;
  readonly rawBucket: Bucket;
  readonly enhancedBucket: Bucket;
  readonly logBucket: Bucket;
  readonly distribution: Distribution;
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

    this.distribution = new Distribution(this, "Cdn", {
      comment: `Pixel Lab ${props.stage}: enhanced images`,
      defaultBehavior: {
        origin: S3BucketOrigin.withOriginAccessControl(this.enhancedBucket),
        viewerProtocolPolicy: ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
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
      allowedMethods: [HttpMethods.POST],
      allowedOrigins: this.allowedOrigins,
      allowedHeaders: ["*"],
      exposedHeaders: ["ETag", "Location"],
      maxAge: 3000,
    });
  }

  /**
   * `arn:…:s3:::{bucket}/{prefix}*`, built from the bucket's name rather than a cross-stack reference,
   * so a grant in the application stack reads the same in every stage and needs no export.
   */
  objectsArn(logicalName: (typeof BUCKETS)[keyof typeof BUCKETS], prefix: string): string {
    return `arn:${Aws.PARTITION}:s3:::${bucketName(this.stage, logicalName)}/${prefix}*`;
  }

  /** The same ARN as cdk-nag prints it in an IAM5 finding id. */
  objectsArnAsFinding(logicalName: (typeof BUCKETS)[keyof typeof BUCKETS], prefix: string): string {
    return `arn:<AWS::Partition>:s3:::${resourceName(this.stage, logicalName)}-<AWS::AccountId>-<AWS::Region>/${prefix}*`;
  }

  /** The CloudFront URL prefix image keys (`enhanced/...`) are appended to. */
  get assetsBaseUrl(): string {
    return `https://${this.distribution.distributionDomainName}`;
  }
}
