import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { CustomResource, Duration } from "aws-cdk-lib";
import type { NodejsFunction } from "aws-cdk-lib/aws-lambda-nodejs";
import { Provider } from "aws-cdk-lib/custom-resources";
import { Construct } from "constructs";
import { ENV } from "../lambdas/names.ts";
import { APP_PRIVILEGES, appTables } from "../schema/app-user.ts";
import type { Database } from "./database.ts";
import { PROJECT_ROOT, pixelLabFunction } from "./lambda-function.ts";

const migrationFiles = (): string[] =>
  readdirSync(`${PROJECT_ROOT}schema`)
    .filter((file) => /^\d{3}_[a-z0-9_]+\.sql$/.test(file))
    .sort();

/** Changes whenever a migration file does, so CloudFormation calls the runner again on deploy. */
export const migrationsChecksum = (): string => {
  const hash = createHash("sha256");
  for (const file of migrationFiles())
    hash.update(file).update(readFileSync(`${PROJECT_ROOT}schema/${file}`));
  return hash.digest("hex");
};

export interface MigrationsProps {
  database: Database;
  environment: Record<string, string>;
}

/** Changes whenever the app user's grants would, so the runner grants a newly named table on deploy. */
export const appUserGrants = (): string => `${APP_PRIVILEGES.join(",")} ON ${appTables().join(",")}`;

/**
 * Applies pending migrations through the Data API on every deploy, with the same runner
 * (`schema/migrate.ts`) the local stack uses, then makes sure of the app user (`schema/app-user.ts`); the
 * SQL files travel beside the bundle. The only function that signs in as the admin.
 */
export class Migrations extends Construct {
  readonly function: NodejsFunction;

  constructor(scope: Construct, id: string, props: MigrationsProps) {
    super(scope, id);
    const fn = pixelLabFunction(this, "Migrate", {
      handler: "migrate",
      // An auto-paused cluster can take a while to resume on the first statement.
      timeout: Duration.minutes(5),
      environment: {
        ...props.environment,
        [ENV.databaseSecretArn]: props.database.adminSecret.secretArn,
        [ENV.databaseAppSecretArn]: props.database.appSecret.secretArn,
      },
      extraFiles: migrationFiles().map((file) => `schema/${file}`),
    });
    props.database.cluster.grantAdminDataApiAccess(fn);
    // It reads the app user's name and password to create the user and keep its password in sync.
    props.database.appSecret.grantRead(fn);
    this.function = fn;
    const provider = new Provider(this, "Provider", { onEventHandler: fn });
    const resource = new CustomResource(this, "Schema", {
      serviceToken: provider.serviceToken,
      resourceType: "Custom::PixelLabSchema",
      properties: { migrationsChecksum: migrationsChecksum(), appUserGrants: appUserGrants() },
    });
    resource.node.addDependency(props.database.cluster);
  }
}
