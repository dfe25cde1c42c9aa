import { Duration, RemovalPolicy } from "aws-cdk-lib";
import { FlowLogDestination, FlowLogTrafficType, SubnetType, Vpc } from "aws-cdk-lib/aws-ec2";
import {
  AuroraMysqlEngineVersion,
  ClusterInstance,
  Credentials,
  DatabaseCluster,
  DatabaseClusterEngine,
} from "aws-cdk-lib/aws-rds";
import { Construct } from "constructs";

export const DATABASE_NAME = "pixel_lab";

export interface DatabaseProps {
  stage: string;
  /** Aurora Capacity Units; 0 lets an idle cluster pause. */
  minCapacity?: number;
  maxCapacity?: number;
}

/**
 * Aurora MySQL 3 Serverless v2 with the Data API: the Lambdas reach it over HTTPS with IAM and the
 * cluster secret, so they need no VPC, no NAT gateway and no connection pool. The VPC exists only
 * for the cluster and has isolated subnets alone.
 */
export class Database extends Construct {
  readonly cluster: DatabaseCluster;
  readonly vpc: Vpc;

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
    this.cluster = new DatabaseCluster(this, "Cluster", {
      engine: DatabaseClusterEngine.auroraMysql({ version: AuroraMysqlEngineVersion.VER_3_08_0 }),
      writer: ClusterInstance.serverlessV2("Writer", { autoMinorVersionUpgrade: true }),
      serverlessV2MinCapacity: props.minCapacity ?? 0,
      serverlessV2MaxCapacity: props.maxCapacity ?? 8,
      enableDataApi: true,
      defaultDatabaseName: DATABASE_NAME,
      credentials: Credentials.fromGeneratedSecret("pixel_admin"),
      vpc: this.vpc,
      vpcSubnets: { subnetType: SubnetType.PRIVATE_ISOLATED },
      storageEncrypted: true,
      iamAuthentication: true,
      deletionProtection: true,
      backup: { retention: Duration.days(7) },
      cloudwatchLogsExports: ["error", "general", "slowquery", "audit"],
      removalPolicy: RemovalPolicy.SNAPSHOT,
    });
  }
}
