import type { CloudFormationCustomResourceEvent } from "aws-lambda";
import { loadMigrations, MIGRATIONS_DIRECTORY, migrate } from "../../schema/migrate.ts";
import { logger } from "../adapters/logger.ts";
import { databaseFromEnvironment } from "./runtime.ts";

const PHYSICAL_ID = "pixel-lab-schema";

/**
 * The migration custom resource (behind the CDK's custom resource Provider, which answers
 * CloudFormation): on create and update it applies pending migrations with the same runner the local
 * stack uses; on delete it leaves the schema alone, since the data outlives any one deployment.
 */
export const handler = async (event: CloudFormationCustomResourceEvent) => {
  if (event.RequestType === "Delete") return { PhysicalResourceId: PHYSICAL_ID };
  const migrations = await loadMigrations(MIGRATIONS_DIRECTORY);
  const applied = await migrate(databaseFromEnvironment(), migrations);
  logger.info("migrations applied", { applied, known: migrations.map((migration) => migration.version) });
  return { PhysicalResourceId: PHYSICAL_ID, Data: { applied: applied.join(",") || "none" } };
};
