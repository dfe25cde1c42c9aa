import type { CloudFormationCustomResourceEvent } from "aws-lambda";
import { ensureAppUser } from "../../schema/app-user.ts";
import { loadMigrations, MIGRATIONS_DIRECTORY, migrate } from "../../schema/migrate.ts";
import type { Db } from "../adapters/database.ts";
import { logger } from "../adapters/logger.ts";
import {
  createSecretsManagerClient,
  type DatabaseCredentials,
  readDatabaseCredentials,
} from "../adapters/secrets.ts";
import { loadConfig } from "../config.ts";
import { ENV } from "../names.ts";
import { databaseFromEnvironment } from "./runtime.ts";

const PHYSICAL_ID = "pixel-lab-schema";

export interface MigrationDeps {
  /** The Data API as the admin: this function alone holds the admin's secret. */
  db: Db;
  database: string;
  /** The app user's name and password, from its secret. */
  appUser: () => Promise<DatabaseCredentials>;
}

/**
 * The migration custom resource (behind the CDK's custom resource Provider, which answers
 * CloudFormation): on create and update it applies pending migrations with the same runner the local
 * stack uses, then makes sure of the app user every other function signs in as (exactly its grants, the
 * password in its secret); on delete it leaves the schema alone, since the data outlives any one deployment.
 */
export const migrationHandler = (deps: MigrationDeps) => async (event: CloudFormationCustomResourceEvent) => {
  if (event.RequestType === "Delete") return { PhysicalResourceId: PHYSICAL_ID };
  const migrations = await loadMigrations(MIGRATIONS_DIRECTORY);
  const applied = await migrate(deps.db, migrations);
  logger.info("migrations applied", { applied, known: migrations.map((migration) => migration.version) });
  const { username, password } = await deps.appUser();
  const appUser = await ensureAppUser(deps.db, { user: username, password, database: deps.database });
  logger.info("app user granted", { user: username, ...appUser });
  return {
    PhysicalResourceId: PHYSICAL_ID,
    Data: { applied: applied.join(",") || "none", appUser: username },
  };
};

const fromEnvironment = (): MigrationDeps => {
  const config = loadConfig();
  if (!config.dataApi || !config.appUserSecretArn) {
    throw new Error(
      `the migration function needs ${ENV.databaseClusterArn}, ${ENV.databaseSecretArn} (the admin's) and ${ENV.databaseAppSecretArn}`,
    );
  }
  const secretArn = config.appUserSecretArn;
  const secrets = createSecretsManagerClient({ region: config.region });
  return {
    db: databaseFromEnvironment(),
    database: config.dataApi.database,
    appUser: () => readDatabaseCredentials(secrets, secretArn),
  };
};

// Built on the first event, not at import: a missing variable then fails the deploy with its name.
let deps: MigrationDeps | undefined;
export const handler = (event: CloudFormationCustomResourceEvent) => {
  deps ??= fromEnvironment();
  return migrationHandler(deps)(event);
};
