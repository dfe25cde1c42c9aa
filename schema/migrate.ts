import { createHash, randomUUID } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { sql } from "kysely";
import type { Db } from "../lambdas/adapters/database.ts";

export const MIGRATIONS_DIRECTORY = fileURLToPath(new URL(".", import.meta.url));

const MIGRATION_FILE = /^(\d{3})_[a-z0-9_]+\.sql$/;
const LOCK_ROW = 1;
const LOCK_WAIT_SECONDS = 60;
const LOCK_LEASE_SECONDS = 300;
const LOCK_POLL_MS = 200;

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

export interface MigrateOptions {
  /** How long to wait for a lock another runner holds before giving up (default 60 s). */
  lockWaitSeconds?: number;
  /**
   * How long the lock lasts unless renewed (default 300 s). The runner renews it before every statement,
   * so this bounds one statement's run time and how long a crashed runner blocks the next one.
   */
  lockLeaseSeconds?: number;
}

/**
 * The migration lock: one row in `schema_migration_lock`, taken and renewed by conditional UPDATEs that
 * each commit on their own (a lease), never a lock that lives in a session or a transaction.
 *
 * Why a lease, with one runner for mysql2 and the Data API alike:
 * - GET_LOCK belongs to a session. Over the Data API there is a session only inside a transaction, and
 *   every DDL statement commits that transaction implicitly; whether the service then keeps the same
 *   connection for the transaction id is not documented, and if a runner dies the transaction times out
 *   (3 minutes) and its connection goes back to the service's pool, possibly still holding the named lock.
 * - SELECT … FOR UPDATE on a lock row is released by the first DDL's implicit commit when the DDL runs in
 *   the same transaction; held in a transaction of its own instead, it needs a second connection while
 *   the DDL runs (the local stack migrates over a one-connection pool), must be touched every 3 minutes
 *   over the Data API, and a waiting runner would block inside one HTTPS call (45 s at most by default).
 * - A lease row needs none of that: each UPDATE is atomic and commits at once (InnoDB re-reads the row
 *   under its lock, so of two runners only one sees it free), DDL commits change nothing, a crashed
 *   runner's lease simply expires, and the holder is readable in the table. Times come from the server
 *   (UTC_TIMESTAMP), not from the runners' clocks. The cost: a single statement running longer than the
 *   lease lets a second runner in, whose own statements would then fail loudly on what exists already.
 */
const takeLock = async (db: Db, options: Required<MigrateOptions>) => {
  const owner = `${randomUUID()} ${hostname()} ${process.pid}`.slice(0, 100);
  const lease = sql.lit(options.lockLeaseSeconds);
  const expiry = sql<Date>`UTC_TIMESTAMP(3) + INTERVAL ${lease} SECOND`;
  await sql`CREATE TABLE IF NOT EXISTS schema_migration_lock (
    id TINYINT NOT NULL PRIMARY KEY,
    owner VARCHAR(100) NULL,
    expires_at DATETIME(3) NULL,
    renewals BIGINT NOT NULL DEFAULT 0
  ) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci`.execute(db);
  await sql`INSERT IGNORE INTO schema_migration_lock (id) VALUES (${LOCK_ROW})`.execute(db);

  const deadline = Date.now() + options.lockWaitSeconds * 1000;
  for (;;) {
    const taken = await db
      .updateTable("schema_migration_lock")
      .set((eb) => ({ owner, expires_at: expiry, renewals: eb("renewals", "+", 1) }))
      .where("id", "=", LOCK_ROW)
      .where((eb) => eb.or([eb("owner", "is", null), eb("expires_at", "<", sql<Date>`UTC_TIMESTAMP(3)`)]))
      .executeTakeFirst();
    if (taken.numUpdatedRows === 1n) break;
    if (Date.now() >= deadline) {
      const holder = await db
        .selectFrom("schema_migration_lock")
        .select(["owner", "expires_at"])
        .where("id", "=", LOCK_ROW)
        .executeTakeFirst();
      throw new Error(
        `could not take the migration lock within ${options.lockWaitSeconds} s: ` +
          `${holder?.owner ?? "another runner"} holds it until ${holder?.expires_at?.toISOString() ?? "?"}`,
      );
    }
    await sleep(LOCK_POLL_MS);
  }

  return {
    /** Extends the lease; fails if it expired and another runner took the lock meanwhile. */
    async renew(): Promise<void> {
      const renewed = await db
        .updateTable("schema_migration_lock")
        .set((eb) => ({ expires_at: expiry, renewals: eb("renewals", "+", 1) }))
        .where("id", "=", LOCK_ROW)
        .where("owner", "=", owner)
        .executeTakeFirst();
      if (renewed.numUpdatedRows !== 1n) {
        throw new Error("lost the migration lock: its lease expired and another runner took it");
      }
    },
    async release(): Promise<void> {
      await db
        .updateTable("schema_migration_lock")
        .set((eb) => ({ owner: null, expires_at: null, renewals: eb("renewals", "+", 1) }))
        .where("id", "=", LOCK_ROW)
        .where("owner", "=", owner)
        .execute();
    },
  };
};

/**
 * Applies every migration not yet recorded in `schema_migrations`, in file order, each once, over mysql2 or
 * the Data API alike. MySQL commits DDL implicitly, so a migration cannot be rolled back as a whole; instead
 * a lock (a lease row, see `takeLock`) makes a second runner starting at the same moment wait and then find
 * the work done. Every statement runs on its own (autocommit), as AWS recommends for DDL over the Data API.
 * An applied migration whose file has since changed is an error: fix forward with a new file.
 */
export const migrate = async (
  db: Db,
  migrations?: Migration[],
  options: MigrateOptions = {},
): Promise<string[]> => {
  const pending = migrations ?? (await loadMigrations());
  const lock = await takeLock(db, {
    lockWaitSeconds: options.lockWaitSeconds ?? LOCK_WAIT_SECONDS,
    lockLeaseSeconds: options.lockLeaseSeconds ?? LOCK_LEASE_SECONDS,
  });
  const run = async (): Promise<string[]> => {
    await sql`CREATE TABLE IF NOT EXISTS schema_migrations (
      version VARCHAR(255) NOT NULL PRIMARY KEY,
      checksum CHAR(64) NOT NULL,
      applied_at DATETIME(3) NOT NULL
    ) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci`.execute(db);
    const applied = new Map(
      (await db.selectFrom("schema_migrations").select(["version", "checksum"]).execute()).map((row) => [
        row.version,
        row.checksum,
      ]),
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
        await lock.renew();
        await sql.raw(statement).execute(db);
      }
      await lock.renew();
      await db
        .insertInto("schema_migrations")
        .values({ version: migration.version, checksum: migration.checksum, applied_at: new Date() })
        .execute();
      appliedNow.push(migration.version);
    }
    return appliedNow;
  };
  let appliedNow: string[];
  try {
    appliedNow = await run();
  } catch (error) {
    // The migration's error is the one to report; a failed release only leaves the lease to expire.
    await lock.release().catch(() => undefined);
    throw error;
  }
  await lock.release();
  return appliedNow;
};
