import { sql } from "kysely";
import type { Db } from "../lambdas/adapters/database.ts";
import { TABLES } from "../lambdas/names.ts";

/**
 * The application's database user: it reads and writes the app's tables and can do nothing else (no DDL,
 * no grants, nothing on the migration runner's tables). Only the migration runner signs in as the admin;
 * this runs right after it, in every place that migrates (`npm start`, the deploy-time custom resource,
 * the tests), with the admin's handle.
 *
 * The SQL is the common ground of MySQL 8.0 (Aurora MySQL 3) and MariaDB 10.11 and needs no session, so it
 * runs the same over mysql2 and the RDS Data API. User, password and database are validated and written as
 * literals: MySQL does not take placeholders in CREATE USER or GRANT.
 */

/** What the app user may do on each of its tables. */
export const APP_PRIVILEGES = ["DELETE", "INSERT", "SELECT", "UPDATE"] as const;

/** The migration runner's own tables: the app user gets nothing on them. */
const MIGRATION_TABLES: readonly string[] = [TABLES.schemaMigrations, TABLES.schemaMigrationLock];

/** Every table named in `TABLES` but the migration runner's: a table added there is granted on the next migrate. */
export const appTables = (): string[] =>
  Object.values(TABLES)
    .filter((table) => !MIGRATION_TABLES.includes(table))
    .sort();

export interface AppUserCredentials {
  /** At most 32 characters (MySQL 8): letters, digits and `_`. */
  user: string;
  password: string;
  /** The database (schema) whose tables the user reads and writes. */
  database: string;
}

/** The host part of the account: the Data API and local clients connect from addresses nobody fixes. */
const ANY_HOST = "%";

const IDENTIFIER = /^[A-Za-z0-9_]+$/;

const checkName = (what: string, value: string, maxLength: number): void => {
  if (!IDENTIFIER.test(value) || value.length > maxLength) {
    throw new Error(`${what} '${value}' must be 1-${maxLength} letters, digits or '_'`);
  }
};

const checkCredentials = ({ user, password, database }: AppUserCredentials): void => {
  checkName("the app user's name", user, 32);
  checkName("the database name", database, 64);
  // Printable ASCII without quote or backslash: the password is written as a literal (see above), and a
  // backslash would mean different things with and without NO_BACKSLASH_ESCAPES. Generated passwords
  // (Secrets Manager's, npm start's) never contain them.
  if (
    password.length < 12 ||
    password.length > 128 ||
    !/^[\x20-\x7e]+$/.test(password) ||
    /['\\]/.test(password)
  ) {
    throw new Error(
      "the app user's password must be 12-128 printable ASCII characters without ' or \\ (generate one: it is never typed)",
    );
  }
};

const literal = (value: string): string => `'${value.replaceAll("'", "''")}'`;
const account = (user: string): string => `${literal(user)}@${literal(ANY_HOST)}`;
const quoted = (name: string): string => `\`${name}\``;

/** A privilege the user holds, as `information_schema` lists it. */
export interface HeldPrivilege {
  /** `global` (`*.*`), `schema` (`db.*`), `table` or `column`. */
  level: "global" | "schema" | "table" | "column";
  schema: string | null;
  table: string | null;
  column: string | null;
  privilege: string;
  grantable: boolean;
}

export interface AppUserState {
  exists: boolean;
  /** Every privilege the user holds, USAGE (the right to sign in) left out. */
  privileges: HeldPrivilege[];
}

/** Reads what the user may do, from `information_schema` (the admin sees every account's grants). */
export const inspectAppUser = async (admin: Db, user: string): Promise<AppUserState> => {
  const grantee = account(user);
  const exists = await sql<{
    n: number | string;
  }>`SELECT COUNT(*) AS n FROM information_schema.USER_PRIVILEGES
    WHERE GRANTEE = ${grantee}`.execute(admin);
  type Row = {
    schema_name: string | null;
    table_name: string | null;
    column_name: string | null;
    privilege: string;
    grantable: string;
  };
  const [global, schema, table, column] = await Promise.all([
    sql<Row>`SELECT NULL AS schema_name, NULL AS table_name, NULL AS column_name,
        PRIVILEGE_TYPE AS privilege, IS_GRANTABLE AS grantable
      FROM information_schema.USER_PRIVILEGES WHERE GRANTEE = ${grantee}`.execute(admin),
    sql<Row>`SELECT TABLE_SCHEMA AS schema_name, NULL AS table_name, NULL AS column_name,
        PRIVILEGE_TYPE AS privilege, IS_GRANTABLE AS grantable
      FROM information_schema.SCHEMA_PRIVILEGES WHERE GRANTEE = ${grantee}`.execute(admin),
    sql<Row>`SELECT TABLE_SCHEMA AS schema_name, TABLE_NAME AS table_name, NULL AS column_name,
        PRIVILEGE_TYPE AS privilege, IS_GRANTABLE AS grantable
      FROM information_schema.TABLE_PRIVILEGES WHERE GRANTEE = ${grantee}`.execute(admin),
    sql<Row>`SELECT TABLE_SCHEMA AS schema_name, TABLE_NAME AS table_name, COLUMN_NAME AS column_name,
        PRIVILEGE_TYPE AS privilege, IS_GRANTABLE AS grantable
      FROM information_schema.COLUMN_PRIVILEGES WHERE GRANTEE = ${grantee}`.execute(admin),
  ]);
  const held = (level: HeldPrivilege["level"], rows: Row[]): HeldPrivilege[] =>
    rows.map((row) => ({
      level,
      schema: row.schema_name,
      table: row.table_name,
      column: row.column_name,
      privilege: row.privilege.toUpperCase(),
      grantable: row.grantable.toUpperCase() === "YES",
    }));
  return {
    exists: Number(exists.rows[0]?.n ?? 0) > 0,
    privileges: [
      // USAGE is "may sign in", which every account has; MySQL 8 lists it, MariaDB too.
      ...held("global", global.rows).filter((row) => row.privilege !== "USAGE" || row.grantable),
      ...held("schema", schema.rows),
      ...held("table", table.rows),
      ...held("column", column.rows),
    ],
  };
};

/** `SELECT ON pixel_lab.products`, `CREATE ON *.*`, `GRANT OPTION ON pixel_lab.*`: how a person reads a privilege. */
/** What a privilege is on (`*.*`, `db.*`, `db.table`), with names as `name` gives them. */
const objectOf = (held: HeldPrivilege, name: (identifier: string) => string = (identifier) => identifier) =>
  held.level === "global"
    ? "*.*"
    : held.level === "schema"
      ? `${name(held.schema ?? "")}.*`
      : `${name(held.schema ?? "")}.${name(held.table ?? "")}`;

export const describePrivilege = (held: HeldPrivilege): string =>
  `${held.privilege} ON ${objectOf(held)}${held.level === "column" && held.column ? ` (${held.column})` : ""}`;

const isWanted = (held: HeldPrivilege, database: string, tables: readonly string[]): boolean =>
  held.level === "table" &&
  held.schema === database &&
  held.table !== null &&
  tables.includes(held.table) &&
  (APP_PRIVILEGES as readonly string[]).includes(held.privilege) &&
  !held.grantable;

export interface GrantReport {
  /** Privileges the user must have and does not, e.g. `SELECT ON pixel_lab.leases`. */
  missing: string[];
  /** Privileges it has and must not, e.g. `DROP ON pixel_lab.products`, `GRANT OPTION ON …`. */
  extra: string[];
}

/** How the user's grants differ from exactly the app's (SELECT, INSERT, UPDATE, DELETE on each app table). */
export const compareGrants = (
  state: AppUserState,
  database: string,
  tables: readonly string[] = appTables(),
): GrantReport => {
  const missing = tables.flatMap((table) =>
    APP_PRIVILEGES.filter(
      (privilege) =>
        !state.privileges.some(
          (held) =>
            held.level === "table" &&
            held.schema === database &&
            held.table === table &&
            held.privilege === privilege,
        ),
    ).map((privilege) => `${privilege} ON ${database}.${table}`),
  );
  const extra = state.privileges.flatMap((held) => {
    const problems: string[] = [];
    if (!isWanted({ ...held, grantable: false }, database, tables)) problems.push(describePrivilege(held));
    if (held.grantable) problems.push(describePrivilege({ ...held, privilege: "GRANT OPTION" }));
    return problems;
  });
  return { missing, extra: [...new Set(extra)] };
};

/** The REVOKE that takes one held privilege away. */
const revokeStatement = (held: HeldPrivilege, user: string): string => {
  const what = held.level === "column" ? `${held.privilege} (${quoted(held.column ?? "")})` : held.privilege;
  return `REVOKE ${what} ON ${objectOf(held, quoted)} FROM ${account(user)}`;
};

export interface EnsureAppUserResult {
  /** The user did not exist and was created. */
  created: boolean;
  /** The tables it may read and write. */
  tables: string[];
  /** Privileges it held beyond those and no longer does. */
  revoked: string[];
}

/**
 * Makes the app user exist with this password and exactly its grants: SELECT, INSERT, UPDATE and DELETE on
 * each app table, nothing else anywhere. Idempotent, so it runs after every migrate: it creates the user if
 * missing, sets the password (so a rotated secret or a new local password takes effect), grants what is
 * missing and revokes whatever else the user holds. Wanted grants go first and extras after, so a running
 * app never loses a privilege it uses while this runs.
 */
export const ensureAppUser = async (
  admin: Db,
  credentials: AppUserCredentials,
  options: { tables?: readonly string[] } = {},
): Promise<EnsureAppUserResult> => {
  checkCredentials(credentials);
  const { user, password, database } = credentials;
  const tables = [...(options.tables ?? appTables())].sort();
  for (const table of tables) checkName("table", table, 64);

  const existing = await sql<{ name: string }>`SELECT TABLE_NAME AS name FROM information_schema.TABLES
    WHERE TABLE_SCHEMA = ${database}`.execute(admin);
  const present = new Set(existing.rows.map((row) => row.name));
  const absent = tables.filter((table) => !present.has(table));
  if (absent.length > 0) {
    throw new Error(
      `cannot grant the app user ${user} its tables: ${absent.join(", ")} ` +
        `${absent.length === 1 ? "does" : "do"} not exist in database ${database}. Every table named in TABLES ` +
        "(lambdas/names.ts) needs a migration in schema/ that creates it; run the migrations first.",
    );
  }

  const before = await inspectAppUser(admin, user);
  await sql
    .raw(`CREATE USER IF NOT EXISTS ${account(user)} IDENTIFIED BY ${literal(password)}`)
    .execute(admin);
  await sql.raw(`ALTER USER ${account(user)} IDENTIFIED BY ${literal(password)}`).execute(admin);
  for (const table of tables) {
    await sql
      .raw(`GRANT ${APP_PRIVILEGES.join(", ")} ON ${quoted(database)}.${quoted(table)} TO ${account(user)}`)
      .execute(admin);
  }

  // One REVOKE per privilege and object; GRANT OPTION is per object, however many privileges carry it.
  const revokes = new Map<string, string>();
  const state = await inspectAppUser(admin, user);
  for (const held of state.privileges) {
    if (held.grantable) {
      const option = {
        ...held,
        privilege: "GRANT OPTION",
        column: null,
        level: held.level === "column" ? "table" : held.level,
      } as const;
      revokes.set(revokeStatement(option, user), describePrivilege(option));
    }
    if (held.privilege === "USAGE" || isWanted({ ...held, grantable: false }, database, tables)) continue;
    revokes.set(revokeStatement(held, user), describePrivilege(held));
  }
  for (const statement of revokes.keys()) await sql.raw(statement).execute(admin);
  return { created: !before.exists, tables, revoked: [...revokes.values()] };
};

/** Removes the user (tests; a local database being thrown away). */
export const dropAppUser = async (admin: Db, user: string): Promise<void> => {
  checkName("the app user's name", user, 32);
  await sql.raw(`DROP USER IF EXISTS ${account(user)}`).execute(admin);
};
