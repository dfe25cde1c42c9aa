/**
 * `npm run doctor`: what a newcomer's `npm start` needs, checked one by one, each with a pass or fail line
 * and, for each problem, what to do. It reads the same configuration (`lambdas/config.ts`) and finds the
 * database the same way (`local/database.ts`) as `npm start`, so what it says holds for `npm start`.
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { HeadBucketCommand, type S3Client } from "@aws-sdk/client-s3";
import { GetQueueAttributesCommand, GetQueueUrlCommand, type SQSClient } from "@aws-sdk/client-sqs";
import { sql } from "kysely";
import { createConnection } from "mysql2/promise";
import { createMysqlDb, type Db } from "../lambdas/adapters/database.ts";
import { createS3Client } from "../lambdas/adapters/object-store.ts";
import { createSqsClient } from "../lambdas/adapters/queue.ts";
import { type Config, configProblems, loadConfig } from "../lambdas/config.ts";
import { appDatabaseUser, ENV } from "../lambdas/names.ts";
import { compareGrants, inspectAppUser } from "../schema/app-user.ts";
import { loadMigrations } from "../schema/migrate.ts";
import {
  appUserPasswordKey,
  connectionFixes,
  defaultDatabaseUrl,
  describeConnectionError,
  redactUrl,
  storedAppUserPassword,
} from "./database.ts";
import { findServerInstall, runningPrivateServer } from "./private-server.ts";

export type CheckStatus = "pass" | "fail" | "skip";

export interface CheckResult {
  /** What was checked, e.g. `database reachable`. */
  name: string;
  status: CheckStatus;
  /** What was found. */
  detail: string;
  /** What to do about a failure, in order. */
  fixes: string[];
}

const pass = (name: string, detail: string): CheckResult => ({ name, status: "pass", detail, fixes: [] });
const fail = (name: string, detail: string, fixes: string[]): CheckResult => ({
  name,
  status: "fail",
  detail,
  fixes,
});
const skip = (name: string, detail: string): CheckResult => ({ name, status: "skip", detail, fixes: [] });

/** The Node major the project pins (package.json's engines, `>=24`). */
const requiredNodeMajor = (): number => {
  const { engines } = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
    engines: { node: string };
  };
  return Number(/\d+/.exec(engines.node)?.[0] ?? 0);
};

const checkNode = (): CheckResult => {
  const version = process.versions.node;
  const required = requiredNodeMajor();
  return Number(version.split(".")[0]) >= required
    ? pass("node", `Node ${version}`)
    : fail("node", `Node ${version}; the project needs Node ${required}`, [
        "run it through npm (`npm run doctor`, `npm start`): npm scripts use the Node pinned in node_modules",
        "if that is still older, `npm ci` (re)installs the pinned Node: see README, Quick start",
      ]);
};

const checkConfiguration = (env: NodeJS.ProcessEnv): CheckResult[] => {
  const problems = configProblems(env);
  if (problems.length === 0) return [pass("configuration", "every variable is valid (lambdas/config.ts)")];
  return problems.map((problem) =>
    fail("configuration", problem, [
      `fix or unset ${problem.split(":")[0]} (README, Configuration, lists each variable and its default)`,
    ]),
  );
};

/** Where npm start would find the database server now: DATABASE_URL, the default port, or its private server. */
const locateDatabase = async (
  env: NodeJS.ProcessEnv,
  stateDir: string,
): Promise<{ url: string; source: string; privateServer: boolean } | CheckResult> => {
  const explicit = env[ENV.databaseUrl];
  if (explicit) return { url: explicit, source: "DATABASE_URL", privateServer: false };
  const url = defaultDatabaseUrl(env);
  const server = new URL(url);
  server.pathname = "/";
  try {
    const connection = await createConnection({ uri: server.toString(), connectTimeout: 3000 });
    await connection.end();
    return { url, source: "the default, as DATABASE_URL is not set", privateServer: false };
  } catch (error) {
    const running = runningPrivateServer(stateDir);
    if (running) {
      return {
        url: `mysql://root@127.0.0.1:${running.port}/pixel_lab`,
        source: `npm start's private server (pid ${running.pid})`,
        privateServer: true,
      };
    }
    const install = findServerInstall(env.PATH);
    if (
      install &&
      typeof error === "object" &&
      error !== null &&
      "code" in error &&
      error.code === "ECONNREFUSED"
    ) {
      return fail(
        "database reachable",
        `${redactUrl(url)} (the default, as DATABASE_URL is not set): ${describeConnectionError(error, url)}, and npm start's private server is not running`,
        [
          `start it: \`npm start\` runs a private ${install.kind === "mariadb" ? "MariaDB" : "MySQL"} server (${install.server}) under ${stateDir} and keeps it running while it runs; then run the doctor again, or`,
          "set DATABASE_URL to a server you run yourself",
        ],
      );
    }
    return fail(
      "database reachable",
      `${redactUrl(url)} (the default, as DATABASE_URL is not set): ${describeConnectionError(error, url)}`,
      connectionFixes(error),
    );
  }
};

const migrationChecks = async (admin: Db): Promise<CheckResult[]> => {
  const known = await loadMigrations();
  const table = await sql<{ n: number | string }>`SELECT COUNT(*) AS n FROM information_schema.TABLES
    WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'schema_migrations'`.execute(admin);
  const applied =
    Number(table.rows[0]?.n ?? 0) > 0
      ? new Map(
          (await admin.selectFrom("schema_migrations").select(["version", "checksum"]).execute()).map(
            (row) => [row.version, row.checksum],
          ),
        )
      : new Map<string, string>();
  const pending = known
    .filter((migration) => !applied.has(migration.version))
    .map((migration) => migration.version);
  const changed = known
    .filter(
      (migration) => applied.has(migration.version) && applied.get(migration.version) !== migration.checksum,
    )
    .map((migration) => migration.version);
  const unknown = [...applied.keys()].filter(
    (version) => !known.some((migration) => migration.version === version),
  );
  const results: CheckResult[] = [];
  if (pending.length > 0) {
    results.push(
      fail("database migrated", `${pending.length} pending migration(s): ${pending.join(", ")}`, [
        "`npm start` applies them (as the admin) before it serves anything",
      ]),
    );
  }
  if (changed.length > 0) {
    results.push(
      fail("database migrated", `applied migration(s) whose file has changed since: ${changed.join(", ")}`, [
        "restore those files as they were (git) and put the change in a new migration",
      ]),
    );
  }
  if (unknown.length > 0) {
    results.push(
      fail("database migrated", `applied migration(s) this checkout does not have: ${unknown.join(", ")}`, [
        "update this checkout (git pull), or use a database of its own (DATABASE_URL=…/another_name)",
      ]),
    );
  }
  return results.length > 0 ? results : [pass("database migrated", `all ${known.length} migrations applied`)];
};

const appUserChecks = async (
  admin: Db,
  databaseUrl: string,
  database: string,
  stateDir: string,
  privateServer: boolean,
): Promise<CheckResult[]> => {
  const user = appDatabaseUser(database);
  const state = await inspectAppUser(admin, user);
  if (!state.exists) {
    return [
      fail("app user", `${user} does not exist`, [
        "`npm start` creates it with exactly its grants (schema/app-user.ts) and runs the handlers as it",
      ]),
    ];
  }
  const { missing, extra } = compareGrants(state, database);
  const results: CheckResult[] = [];
  if (missing.length > 0 || extra.length > 0) {
    results.push(
      fail(
        "app user",
        [
          `${user}'s grants are not exactly the app's`,
          ...(missing.length > 0 ? [`missing: ${missing.join(", ")}`] : []),
          ...(extra.length > 0 ? [`beyond them: ${extra.join(", ")}`] : []),
        ].join("; "),
        ["`npm start` grants what is missing and revokes the rest (ensureAppUser, after every migrate)"],
      ),
    );
  } else {
    results.push(pass("app user", `${user}: SELECT, INSERT, UPDATE, DELETE on each app table, nothing else`));
  }
  const password = await storedAppUserPassword(
    stateDir,
    appUserPasswordKey(databaseUrl, user, privateServer || undefined),
  );
  if (password === undefined) {
    results.push(
      skip("app user sign-in", `no password for ${user} kept under ${stateDir} (npm start makes one)`),
    );
    return results;
  }
  const url = new URL(databaseUrl);
  url.username = user;
  url.password = password;
  url.pathname = `/${database}`;
  try {
    const connection = await createConnection({ uri: url.toString(), connectTimeout: 3000 });
    await connection.end();
    results.push(pass("app user sign-in", `${user} signs in with the password kept under ${stateDir}`));
  } catch (error) {
    results.push(
      fail("app user sign-in", describeConnectionError(error, url.toString()), [
        "`npm start` sets the app user's password from the one it keeps under .local/",
      ]),
    );
  }
  return results;
};

const checkDatabase = async (env: NodeJS.ProcessEnv, stateDir: string): Promise<CheckResult[]> => {
  const located = await locateDatabase(env, stateDir);
  if ("status" in located) return [located];
  const { url, source } = located;
  const database = decodeURIComponent(new URL(url).pathname.replace(/^\//, ""));
  const server = new URL(url);
  server.pathname = "/";
  const admin = createMysqlDb(server.toString(), { connectionLimit: 1 });
  try {
    try {
      await sql`SELECT 1`.execute(admin);
    } catch (error) {
      return [
        fail(
          "database reachable",
          `${redactUrl(url)} (${source}): ${describeConnectionError(error, url)}`,
          connectionFixes(error),
        ),
      ];
    }
    const results = [pass("database reachable", `${redactUrl(url)} (${source})`)];
    const exists = await sql<{ n: number | string }>`SELECT COUNT(*) AS n FROM information_schema.SCHEMATA
      WHERE SCHEMA_NAME = ${database}`.execute(admin);
    if (Number(exists.rows[0]?.n ?? 0) === 0) {
      return [
        ...results,
        fail("database migrated", `database ${database} does not exist on the server`, [
          "`npm start` creates and migrates it",
        ]),
      ];
    }
    await sql.raw(`USE \`${database}\``).execute(admin);
    return [
      ...results,
      ...(await migrationChecks(admin)),
      ...(await appUserChecks(admin, url, database, stateDir, located.privateServer)),
    ];
  } finally {
    await admin.destroy();
  }
};

const TIMEOUT_MS = 3000;

/** What went wrong talking to S3 or SQS, in words: not running, missing resource, or the SDK's own message. */
const describeAwsError = (error: unknown): { refused: boolean; missing: boolean; text: string } => {
  const causes: unknown[] = [error];
  if (error instanceof Error && error.cause) causes.push(error.cause);
  const refused = causes.some(
    (cause) =>
      typeof cause === "object" &&
      cause !== null &&
      "code" in cause &&
      ["ECONNREFUSED", "ECONNRESET"].includes(String(cause.code)),
  );
  const name = error instanceof Error ? error.name : "";
  const missing = [
    "NotFound",
    "NoSuchBucket",
    "QueueDoesNotExist",
    "AWS.SimpleQueueService.NonExistentQueue",
  ].includes(name);
  const text = refused
    ? "nothing answers (connection refused)"
    : missing
      ? "does not exist"
      : name === "TimeoutError" || name === "AbortError"
        ? `no answer within ${TIMEOUT_MS / 1000} s`
        : error instanceof Error
          ? `${name}: ${error.message}`
          : String(error);
  return { refused, missing, text };
};

const checkObjectStoreAndQueue = async (env: NodeJS.ProcessEnv, config: Config): Promise<CheckResult[]> => {
  const localEndpoint = `http://127.0.0.1:${env.LOCAL_S3_PORT && env.LOCAL_S3_PORT !== "0" ? env.LOCAL_S3_PORT : 4566}`;
  const local = config.stage === "local";
  const s3Endpoint = config.s3Endpoint ?? (local ? localEndpoint : undefined);
  const sqsEndpoint = config.sqsEndpoint ?? (local ? localEndpoint : undefined);
  const notRunning = (endpoint: string | undefined) =>
    endpoint
      ? [
          `the local stack's S3 + SQS emulator runs inside \`npm start\`: start it (another terminal) and run the doctor again`,
          `if it runs on another port, set ${ENV.s3Endpoint} and ${ENV.sqsEndpoint} to the S3 + SQS address it printed`,
        ]
      : ["check the AWS credentials and region this shell uses (aws sts get-caller-identity)"];
  const where = (endpoint: string | undefined) => endpoint ?? `AWS (${config.region})`;

  const s3: S3Client = createS3Client({ region: config.region, endpoint: s3Endpoint });
  const sqs: SQSClient = createSqsClient({ region: config.region, endpoint: sqsEndpoint });
  try {
    const results: CheckResult[] = [];
    for (const bucket of [config.rawBucket, config.enhancedBucket]) {
      try {
        await s3.send(new HeadBucketCommand({ Bucket: bucket }), {
          abortSignal: AbortSignal.timeout(TIMEOUT_MS),
        });
        results.push(pass("object store", `bucket ${bucket} at ${where(s3Endpoint)}`));
      } catch (error) {
        const { refused, text } = describeAwsError(error);
        results.push(
          fail(
            "object store",
            `bucket ${bucket} at ${where(s3Endpoint)}: ${text}`,
            refused
              ? notRunning(s3Endpoint)
              : [
                  `the local stack creates ${bucket} on start; is another stack (another ${ENV.stage}) running there?`,
                  `or set ${ENV.rawBucket} / ${ENV.enhancedBucket} to the buckets that exist`,
                ],
          ),
        );
        if (refused) break;
      }
    }
    try {
      const queueUrl = config.enhanceQueueUrl.includes("://")
        ? config.enhanceQueueUrl
        : (
            await sqs.send(new GetQueueUrlCommand({ QueueName: config.enhanceQueueUrl }), {
              abortSignal: AbortSignal.timeout(TIMEOUT_MS),
            })
          ).QueueUrl;
      await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ["QueueArn"] }), {
        abortSignal: AbortSignal.timeout(TIMEOUT_MS),
      });
      results.push(pass("queue", `${config.enhanceQueueUrl} at ${where(sqsEndpoint)}`));
    } catch (error) {
      const { refused, text } = describeAwsError(error);
      results.push(
        fail(
          "queue",
          `${config.enhanceQueueUrl} at ${where(sqsEndpoint)}: ${text}`,
          refused
            ? notRunning(sqsEndpoint)
            : [
                `the local stack creates the queue on start; or set ${ENV.enhanceQueueUrl} to the queue that exists`,
              ],
        ),
      );
    }
    return results;
  } finally {
    s3.destroy();
    sqs.destroy();
  }
};

export interface DoctorReport {
  ok: boolean;
  checks: CheckResult[];
}

/** Runs every check; a check that cannot run because an earlier one failed is skipped and says so. */
export const runDoctor = async (
  env: NodeJS.ProcessEnv = process.env,
  options: { stateDir?: string } = {},
): Promise<DoctorReport> => {
  const stateDir = resolve(options.stateDir ?? env.LOCAL_DATA_DIR ?? ".local");
  const checks: CheckResult[] = [checkNode(), ...checkConfiguration(env)];
  const config = configProblems(env).length === 0 ? loadConfig(env) : undefined;
  if (config?.dataApi) {
    checks.push(
      skip(
        "database",
        `${ENV.databaseClusterArn} is set: the doctor checks a local setup (mysql2 at ${ENV.databaseUrl}); in AWS the deploy's migration function checks the schema and the app user`,
      ),
    );
  } else {
    checks.push(...(await checkDatabase(env, stateDir)));
  }
  if (config) checks.push(...(await checkObjectStoreAndQueue(env, config)));
  else checks.push(skip("object store and queue", "skipped: fix the configuration first"));
  return { ok: checks.every((check) => check.status !== "fail"), checks };
};

const MARK: Record<CheckStatus, string> = { pass: "ok  ", fail: "FAIL", skip: "skip" };

/** The report as lines for a terminal: one per check, its fixes indented under it. */
export const formatReport = (report: DoctorReport): string => {
  const width = Math.max(...report.checks.map((check) => check.name.length));
  const lines = ["Pixel Lab doctor", ""];
  for (const check of report.checks) {
    lines.push(`  ${MARK[check.status]}  ${check.name.padEnd(width)}  ${check.detail}`);
    for (const fix of check.fixes) lines.push(`  ${" ".repeat(4)}  ${" ".repeat(width)}  fix: ${fix}`);
  }
  const failures = report.checks.filter((check) => check.status === "fail").length;
  lines.push(
    "",
    failures === 0
      ? "Everything npm start needs is in place."
      : `${failures} problem(s). Fix them and run \`npm run doctor\` again.`,
    "",
  );
  return lines.join("\n");
};
