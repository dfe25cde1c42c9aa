import { Duration, RemovalPolicy } from "aws-cdk-lib";
import { FlowLogDestination, FlowLogTrafficType, SubnetType, Vpc } from "aws-cdk-lib/aws-ec2";
import { Grant, type IGrantable } from "aws-cdk-lib/aws-iam";
import {
  AuroraMysqlEngineVersion,
  ClusterInstance,
  Credentials,
  DatabaseCluster,
  DatabaseClusterEngine,
  type DatabaseClusterProps,
  DatabaseSecret,
} from "aws-cdk-lib/aws-rds";
import type { ISecret } from "aws-cdk-lib/aws-secretsmanager";
import { Construct } from "constructs";
import { appDatabaseUser } from "../lambdas/names.ts";

export const DATABASE_NAME = "pixel_lab";

/** The admin: the cluster's master user, whose secret only the migration function reads. */
export const ADMIN_DATABASE_USER = "pixel_admin";

/** What a function needs on the cluster to run statements through the Data API (aws-cdk-lib's own list). */
const DATA_API_ACTIONS = [
  "rds-data:BatchExecuteStatement",
  "rds-data:BeginTransaction",
  "rds-data:CommitTransaction",
  "rds-data:ExecuteStatement",
  "rds-data:RollbackTransaction",
];

interface AppUserClusterProps extends DatabaseClusterProps {
  /** The app user's secret (`schema/app-user.ts` gives the user its grants); attached to this cluster. */
  appSecret: DatabaseSecret;
}

/**
 * The cluster, with a Data API grant that signs in as the app user. aws-cdk-lib's `grantDataApiAccess` also
 * grants read on the cluster's own secret, the admin's, so every function given Data API access could act as
 * the admin (run DDL, read anything, create users). Here it grants the rds-data actions on this cluster and
 * read on the app user's secret only; the admin's secret takes `grantAdminDataApiAccess`, which only the
 * migration function gets. Least privilege is then the default for any function added later.
 */
export class AppUserCluster extends DatabaseCluster {
  readonly appSecret: ISecret;

  constructor(scope: Construct, id: string, props: AppUserClusterProps) {
    const { appSecret, ...clusterProps } = props;
    super(scope, id, clusterProps);
    // Attached: the secret gains the cluster's host, port and engine, as the admin's has.
    this.appSecret = appSecret.attach(this);
  }

  override grantDataApiAccess(grantee: IGrantable): Grant {
    const grant = Grant.addToPrincipal({
      grantee,
      actions: DATA_API_ACTIONS,
      resourceArns: [this.clusterArn],
    });
    this.appSecret.grantRead(grantee);
    return grant;
  }

  /** The Data API as the admin: rds-data on the cluster and read on the admin's secret. Migrations only. */
  grantAdminDataApiAccess(grantee: IGrantable): Grant {
    return super.grantDataApiAccess(grantee);
  }
}

export interface DatabaseProps {
  stage: string;
  /** Aurora Capacity Units; 0 lets an idle cluster pause. */
  minCapacity?: number;
  maxCapacity?: number;
}

/**
 * Aurora MySQL 3 Serverless v2 with the Data API: the Lambdas reach it over HTTPS with IAM and a
 * database user's secret, so they need no VPC, no NAT gateway and no connection pool. Two users: the
 * admin (the master user; migrations only) and the app user (data-only grants; every other function).
 * The VPC exists only for the cluster and has isolated subnets alone.
 */
export class Database extends Construct {
  readonly cluster: AppUserCluster;
  readonly vpc: Vpc;
  /** The admin's secret (the cluster's master user): the migration function alone reads it. */
  readonly adminSecret: ISecret;
  /** The app user's secret: the API, worker and reconciler sign in to the Data API with it. */
  readonly appSecret: ISecret;

  constructor(scope: Construct, id: string, props: DatabaseProps) {
    super(scope, id);
    this.vpc = new Vpc(this, "Vpc", {
      maxAzs: 2,
      natGateways: 0,
      subnetConfiguration: [{ name: "database", subnetType: SubnetType.PRIVATE_ISOLATED, cidrMask: 24 }],
      flowLogs: {
        rejected: {
          destination: FlowLogDestination.toCloudWatchLogs(),
          trafficType: FlowLogTrafficType.REJECT,
        },
      },
    });
    this.cluster = new AppUserCluster(this, "Cluster", {
      appSecret: new DatabaseSecret(this, "AppSecret", {
        username: appDatabaseUser(DATABASE_NAME),
        dbname: DATABASE_NAME,
      }),
      engine: DatabaseClusterEngine.auroraMysql({ version: AuroraMysqlEngineVersion.VER_3_08_0 }),
      writer: ClusterInstance.serverlessV2("Writer", { autoMinorVersionUpgrade: true }),
      serverlessV2MinCapacity: props.minCapacity ?? 0,
      serverlessV2MaxCapacity: props.maxCapacity ?? 8,
      enableDataApi: true,
      defaultDatabaseName: DATABASE_NAME,
      credentials: Credentials.fromGeneratedSecret(ADMIN_DATABASE_USER),
      vpc: this.vpc,
      vpcSubnets: { subnetType: SubnetType.PRIVATE_ISOLATED },
      storageEncrypted: true,
      iamAuthentication: true,
      deletionProtection: true,
      backup: { retention: Duration.days(7) },
      cloudwatchLogsExports: ["error", "general", "slowquery", "audit"],
      removalPolicy: RemovalPolicy.SNAPSHOT,
    });
    const adminSecret = this.cluster.secret;
    if (!adminSecret) throw new Error("the database cluster has no secret: the Data API signs in with it");
    this.adminSecret = adminSecret;
    this.appSecret = this.cluster.appSecret;
  }
}
