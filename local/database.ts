/**
 * The local stack's database: which server (DATABASE_URL, the server on the default port, or a private one
 * `npm start` runs itself), created and migrated as the admin, and the app user the handlers then sign in
 * as — as in AWS, where only the migration function holds the admin secret.
 */
import { randomBytes } from "node:crypto";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createConnection } from "mysql2/promise";
import { z } from "zod";
import { createMysqlDb, ensureDatabase } from "../lambdas/adapters/database.ts";
import type { Log } from "../lambdas/domain/ports.ts";
import { appDatabaseUser, ENV } from "../lambdas/names.ts";
import { ensureAppUser } from "../schema/app-user.ts";
import { migrate } from "../schema/migrate.ts";
import {
  findServerInstall,
  type PrivateServer,
  PrivateServerError,
  startPrivateServer,
} from "./private-server.ts";

/** The local stack's own database settings (the runtime's `DATABASE_URL` is in `lambdas/config.ts`). */
export const LOCAL_DATABASE_ENV = {
  /** The port `npm start` looks for a server on when DATABASE_URL is unset (tests point it elsewhere). */
  defaultPort: "LOCAL_DEFAULT_DATABASE_PORT",
  /** The port of the private server `npm start` starts when nothing listens there (0: any free port). */
  privatePort: "LOCAL_PRIVATE_DATABASE_PORT",
} as const;

const DEFAULT_DATABASE = "pixel_lab";

const localDatabaseSchema = z.object({
  [LOCAL_DATABASE_ENV.defaultPort]: z.coerce.number().int().min(1).max(65535).default(3306),
  [LOCAL_DATABASE_ENV.privatePort]: z.coerce.number().int().min(0).max(65535).default(3307),
});

/** `npm start`'s database when DATABASE_URL is unset: the server on this machine's default port, as root. */
export const defaultDatabaseUrl = (env: NodeJS.ProcessEnv): string => {
  const settings = localDatabaseSchema.parse(env);
  return `mysql://root@127.0.0.1:${settings[LOCAL_DATABASE_ENV.defaultPort]}/${DEFAULT_DATABASE}`;
};

/** A URL fit to print: the password replaced by `***`. */
export const redactUrl = (url: string): string => url.replace(/\/\/([^:@/]+):[^@/]*@/, "//$1:***@");

/**
 * Why `npm start` cannot go on, as a person reads it: what it tried, why that failed, what to do. bin/local.ts
 * prints it without a stack trace.
 */
export class StartupError extends Error {
  readonly tried: string;
  readonly reason: string;
  readonly fixes: string[];
  readonly details: string | undefined;
  constructor(problem: {
    summary: string;
    tried: string;
    reason: string;
    fixes: string[];
    details?: string;
  }) {
    super(`${problem.summary}: ${problem.reason}`);
    this.name = "StartupError";
    this.tried = problem.tried;
    this.reason = problem.reason;
    this.fixes = problem.fixes;
    this.details = problem.details;
  }
}

/** mysql2's error codes for a server that cannot be reached, or refuses us, turned into words. */
export const describeConnectionError = (error: unknown, url: string): string => {
  const { hostname, port, username } = new URL(url);
  const where = `${hostname}:${port || 3306}`;
  const code = errorCode(error);
  switch (code) {
    case "ECONNREFUSED":
      return `nothing listens at ${where} (connection refused)`;
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return `the host ${hostname} is not known`;
    case "ETIMEDOUT":
      return `${where} did not answer in time`;
    case "ER_ACCESS_DENIED_ERROR":
    case "ER_ACCESS_DENIED_NO_PASSWORD_ERROR":
      return `the server at ${where} refused user '${decodeURIComponent(username)}' (wrong or missing password, or the user may only sign in through the server's socket)`;
    case "ER_DBACCESS_DENIED_ERROR":
    case "ER_DB_CREATE_EXISTS":
    case "ER_SPECIFIC_ACCESS_DENIED_ERROR":
      return `the server at ${where} let '${decodeURIComponent(username)}' in but not do this: ${error instanceof Error ? error.message : code}`;
    default:
      return error instanceof Error ? error.message : String(error);
  }
};

const canConnect = async (serverUrl: string): Promise<unknown> => {
  try {
    const connection = await createConnection({ uri: serverUrl, connectTimeout: 5000 });
    await connection.end();
    return undefined;
  } catch (error) {
    return error;
  }
};

const serverOf = (databaseUrl: string): string => {
  const url = new URL(databaseUrl);
  url.pathname = "/";
  return url.toString();
};

const isRefused = (error: unknown) =>
  typeof error === "object" && error !== null && "code" in error && error.code === "ECONNREFUSED";

const errorCode = (error: unknown): string =>
  typeof error === "object" && error !== null && "code" in error ? String(error.code) : "";

const DOCTOR = "`npm run doctor` checks the configuration, the database, the object store and the queue";
const POINT_ELSEWHERE =
  "point DATABASE_URL at a server you can reach: DATABASE_URL=mysql://user:password@host:3306/pixel_lab npm start";

/** What to do about a server that could not be reached or refused us, by what went wrong. */
export const connectionFixes = (error: unknown): string[] => {
  switch (errorCode(error)) {
    case "ER_ACCESS_DENIED_ERROR":
    case "ER_ACCESS_DENIED_NO_PASSWORD_ERROR":
      return [
        "put a user the server accepts, with its password, in DATABASE_URL (mysql://user:password@host:3306/pixel_lab);",
        "Debian's MariaDB lets root in through its socket only: `sudo mariadb -e \"ALTER USER root@localhost IDENTIFIED VIA mysql_native_password USING PASSWORD('') OR unix_socket\"` opens TCP to it",
      ];
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return ["check the host name in DATABASE_URL, or", POINT_ELSEWHERE];
    case "ETIMEDOUT":
      return ["check that the server runs and that no firewall drops the port, or", POINT_ELSEWHERE];
    default:
      return [
        "start MariaDB or MySQL on this machine (e.g. `sudo systemctl start mariadb`), or",
        POINT_ELSEWHERE,
      ];
  }
};

/** Passwords of local app users: generated once, kept in the git-ignored state folder, readable by its owner only. */
const PASSWORDS_FILE = "database-users.json";

const readPasswords = async (stateDir: string): Promise<Record<string, string>> => {
  try {
    return JSON.parse(await readFile(join(stateDir, PASSWORDS_FILE), "utf8")) as Record<string, string>;
  } catch {
    // none yet (or unreadable: a new password replaces it, and ensureAppUser sets it on the server)
    return {};
  }
};

const appUserPassword = async (stateDir: string, key: string): Promise<string> => {
  const passwords = await readPasswords(stateDir);
  const known = passwords[key];
  if (known) return known;
  const password = randomBytes(24).toString("base64url");
  await mkdir(stateDir, { recursive: true });
  const file = join(stateDir, PASSWORDS_FILE);
  await writeFile(file, `${JSON.stringify({ ...passwords, [key]: password }, null, 2)}\n`, { mode: 0o600 });
  await chmod(file, 0o600);
  return password;
};

/**
 * The key a local app user's password is kept under: the server and the user (a user is server-wide). The
 * private server is always the same server, whatever port it got this time.
 */
export const appUserPasswordKey = (databaseUrl: string, user: string, privateServer?: unknown): string => {
  const url = new URL(databaseUrl);
  return privateServer ? `private/${user}` : `${url.hostname}:${url.port || 3306}/${user}`;
};

/** The app user's stored password for this server, if `npm start` made one (for `npm run doctor`). */
export const storedAppUserPassword = async (stateDir: string, key: string): Promise<string | undefined> =>
  (await readPasswords(stateDir))[key];

export interface LocalDatabase {
  /** The admin's URL: migrations only. */
  adminUrl: string;
  /** The app user's URL: what the handlers sign in with. */
  appUrl: string;
  appUser: string;
  /** Where the server came from, for the banner. */
  source: string;
  privateServer: PrivateServer | undefined;
  stop(): Promise<void>;
}

/**
 * Finds the server, creates and migrates the database as the admin and makes sure of the app user, or throws
 * a `StartupError` that says what was tried, why it failed and what to do.
 */
export const prepareLocalDatabase = async (options: {
  env: NodeJS.ProcessEnv;
  stateDir: string;
  log: Log;
}): Promise<LocalDatabase> => {
  const { env, stateDir, log } = options;
  const settings = localDatabaseSchema.parse(env);
  const explicit = env[ENV.databaseUrl];
  let adminUrl = explicit ?? defaultDatabaseUrl(env);
  let source = explicit ? "DATABASE_URL" : "the server on this machine's default port";
  let privateServer: PrivateServer | undefined;

  const problem = await canConnect(serverOf(adminUrl));
  if (problem !== undefined) {
    const install = explicit || !isRefused(problem) ? undefined : findServerInstall(env.PATH);
    if (!install) {
      const noServer = !explicit && isRefused(problem);
      throw new StartupError({
        summary: "npm start could not reach the database",
        tried: `${redactUrl(adminUrl)} (${explicit ? "DATABASE_URL" : "the default, as DATABASE_URL is not set"})`,
        reason: describeConnectionError(problem, adminUrl),
        fixes: noServer
          ? [
              "install MariaDB or MySQL (e.g. `sudo apt-get install mariadb-server`, `brew install mariadb`): with a server installed and none running, npm start runs a private one under .local/, or",
              ...connectionFixes(problem),
              DOCTOR,
            ]
          : [...connectionFixes(problem), DOCTOR],
      });
    }
    try {
      privateServer = await startPrivateServer({
        install,
        stateDir,
        port: settings[LOCAL_DATABASE_ENV.privatePort],
        log,
      });
    } catch (error) {
      throw new StartupError({
        summary: "npm start could not run its private database server",
        tried: `${install.server} with its data in ${join(stateDir, "mysql")}, as nothing listens at ${new URL(adminUrl).host} and DATABASE_URL is not set`,
        reason: error instanceof Error ? error.message : String(error),
        fixes: [
          `read the server's log above (all of it: ${join(stateDir, "mysql-error.log")}); delete ${join(stateDir, "mysql")} to start it from nothing, or`,
          ...connectionFixes(error),
          DOCTOR,
        ],
        ...(error instanceof PrivateServerError ? { details: error.log } : {}),
      });
    }
    adminUrl = `${privateServer.serverUrl}/${DEFAULT_DATABASE}`;
    source = `a private ${privateServer.install.kind === "mariadb" ? "MariaDB" : "MySQL"} server npm start runs (${
      privateServer.initialised ? "new" : "reused"
    } data in ${privateServer.files.dataDir}; it stops with npm start)`;
  }

  const stopServer = async () => {
    await privateServer?.stop();
  };
  try {
    const database = decodeURIComponent(new URL(adminUrl).pathname.replace(/^\//, ""));
    const appUser = appDatabaseUser(database);
    try {
      await ensureDatabase(adminUrl);
    } catch (error) {
      throw new StartupError({
        summary: "npm start could not create the database",
        tried: `CREATE DATABASE IF NOT EXISTS ${database} on ${redactUrl(adminUrl)} (${source})`,
        reason: describeConnectionError(error, adminUrl),
        fixes: [
          "sign in as a user that may create databases and users (the admin: only migrations and this setup use it), or",
          "create the database yourself and point DATABASE_URL at it",
        ],
      });
    }
    const admin = createMysqlDb(adminUrl, { connectionLimit: 1 });
    try {
      const applied = await migrate(admin);
      if (applied.length > 0) log.info("database migrated", { applied });
      const password = await appUserPassword(stateDir, appUserPasswordKey(adminUrl, appUser, privateServer));
      await ensureAppUser(admin, { user: appUser, password, database });
      const appUrl = new URL(adminUrl);
      appUrl.username = appUser;
      appUrl.password = password;
      return {
        adminUrl,
        appUrl: appUrl.toString(),
        appUser,
        source,
        privateServer,
        stop: stopServer,
      };
    } catch (error) {
      if (error instanceof StartupError) throw error;
      throw new StartupError({
        summary: "npm start could not prepare the database",
        tried: `migrating ${redactUrl(adminUrl)} and granting its app user ${appUser} (${source})`,
        reason: error instanceof Error ? error.message : String(error),
        fixes: [
          "the admin in DATABASE_URL needs every privilege on the database and CREATE USER (root has them), or",
          "`npm run doctor` says what is wrong with the database",
        ],
      });
    } finally {
      await admin.destroy();
    }
  } catch (error) {
    await stopServer();
    throw error;
  }
};
