import { createHash } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { sql } from "kysely";
import type { Db } from "../lambdas/adapters/database.ts";

export const MIGRATIONS_DIRECTORY = fileURLToPath(new URL(".", import.meta.url));

const MIGRATION_FILE = /^(\d{3})_[a-z0-9_]+\.sql$/;
const LOCK_NAME = "pixel_lab_schema_migrations";
const LOCK_TIMEOUT_SECONDS = 60;

export interface Migration {
  version: string;
  statements: string[];
  checksum: string;
}

/** Statements end with `;` at the end of a line; `--` comment lines are dropped. */
export const splitStatements = (text: string): string[] =>
  text
    .split("\n")
    .filter((line) => !line.trimStart().startsWith("--"))
    .join("\n")
    .split(/;\s*$/m)
    .map((statement) => statement.trim())
    .filter((statement) => statement.length > 0);

export const loadMigrations = async (directory = MIGRATIONS_DIRECTORY): Promise<Migration[]> => {
  const files = (await readdir(directory)).filter((file) => MIGRATION_FILE.test(file)).sort();
  return Promise.all(
    files.map(async (file) => {
      const text = await readFile(join(directory, file), "utf8");
      return {
        version: file.replace(/\.sql$/, ""),
        statements: splitStatements(text),
        checksum: createHash("sha256").update(text).digest("hex"),
      };
    }),
  );
};

/**
 * Applies every migration not yet recorded in `schema_migrations`, in file order, each once.
 * MySQL commits DDL implicitly, so a migration cannot be rolled back as a whole; instead a named lock
 * (GET_LOCK, held by one connection) makes a second process starting at the same moment wait and
 * then find the work done. An applied migration whose file has since changed is an error: fix forward
 * with a new file.
 */
export const migrate = async (db: Db, migrations?: Migration[]): Promise<string[]> => {
  const pending = migrations ?? (await loadMigrations());
  return db.connection().execute(async (connection) => {
    const locked = await sql<{
      acquired: number | null;
    }>`SELECT GET_LOCK(${LOCK_NAME}, ${LOCK_TIMEOUT_SECONDS}) AS acquired`.execute(connection);
    if (Number(locked.rows[0]?.acquired) !== 1) {
      throw new Error(`could not take the migration lock within ${LOCK_TIMEOUT_SECONDS} s`);
    }
    try {
      await sql`CREATE TABLE IF NOT EXISTS schema_migrations (
        version VARCHAR(255) NOT NULL PRIMARY KEY,
        checksum CHAR(64) NOT NULL,
        applied_at DATETIME(3) NOT NULL
      ) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci`.execute(connection);
      const applied = new Map(
        (await connection.selectFrom("schema_migrations").select(["version", "checksum"]).execute()).map(
          (row) => [row.version, row.checksum],
        ),
      );
      const appliedNow: string[] = [];
      for (const migration of pending) {
        const recorded = applied.get(migration.version);
        if (recorded !== undefined) {
          if (recorded !== migration.checksum) {
            throw new Error(
              `migration ${migration.version} was changed after it was applied; add a new migration instead`,
            );
          }
          continue;
        }
        for (const statement of migration.statements) {
          await sql.raw(statement).execute(connection);
        }
        await connection
          .insertInto("schema_migrations")
          .values({ version: migration.version, checksum: migration.checksum, applied_at: new Date() })
          .execute();
        appliedNow.push(migration.version);
      }
      return appliedNow;
    } finally {
      await sql`SELECT RELEASE_LOCK(${LOCK_NAME})`.execute(connection);
    }
  });
};
