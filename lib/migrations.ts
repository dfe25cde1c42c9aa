import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { CustomResource, Duration } from "aws-cdk-lib";
import type { NodejsFunction } from "aws-cdk-lib/aws-lambda-nodejs";
import { Provider } from "aws-cdk-lib/custom-resources";
import { Construct } from "constructs";
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

/**
 * Applies pending migrations through the Data API on every deploy, with the same runner
 * (`schema/migrate.ts`) the local stack uses; the SQL files travel beside the bundle.
 */
export class Migrations extends Construct {
  readonly function: NodejsFunction;

  constructor(scope: Construct, id: string, props: MigrationsProps) {
    super(scope, id);
    const fn = pixelLabFunction(this, "Migrate", {
      handler: "migrate",
      // An auto-paused cluster can take a while to resume on the first statement.
      timeout: Duration.minutes(5),
      environment: props.environment,
      extraFiles: migrationFiles().map((file) => `schema/${file}`),
    });
    props.database.cluster.grantDataApiAccess(fn);
    this.function = fn;
    const provider = new Provider(this, "Provider", { onEventHandler: fn });
    const resource = new CustomResource(this, "Schema", {
      serviceToken: provider.serviceToken,
      resourceType: "Custom::PixelLabSchema",
      properties: { migrationsChecksum: migrationsChecksum() },
    });
    resource.node.addDependency(props.database.cluster);
  }
}
