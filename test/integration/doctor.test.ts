import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { appUserPasswordKey } from "../../local/database.ts";
import { type DoctorReport, runDoctor } from "../../local/doctor.ts";
import { freePort } from "../../local/private-server.ts";
import { loadMigrations } from "../../schema/migrate.ts";
import { createTestDatabase, TEST_DATABASE_SERVER, uniqueDatabaseUrl } from "../support/database.ts";
import { startTestEmulator, type TestEmulator } from "../support/emulator.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

let emulator: TestEmulator;
let stateDir: string;
let nowhere: string;

/** The environment of a local stack whose emulator is the test's. */
const stackEnv = (databaseUrl: string): NodeJS.ProcessEnv => ({
  PATH: process.env.PATH,
  DATABASE_URL: databaseUrl,
  S3_ENDPOINT: emulator.endpoint,
  SQS_ENDPOINT: emulator.endpoint,
  RAW_BUCKET: emulator.rawBucket,
  ENHANCED_BUCKET: emulator.enhancedBucket,
  ENHANCE_QUEUE_URL: emulator.queue.url,
});

const statuses = (report: DoctorReport) => report.checks.map((check) => [check.name, check.status]);
const checkNamed = (report: DoctorReport, name: string) =>
  report.checks.filter((check) => check.name === name);

beforeAll(async () => {
  emulator = await startTestEmulator();
  stateDir = await mkdtemp(join(tmpdir(), "pixel-lab-doctor-"));
  nowhere = `http://127.0.0.1:${await freePort()}`;
});

afterAll(async () => {
  await emulator.stop();
  await rm(stateDir, { recursive: true, force: true });
});

describe("npm run doctor", () => {
  it("passes against a migrated database with its app user, and a running emulator", async () => {
    const database = await createTestDatabase("doctor_ok");
    try {
      const report = await runDoctor(stackEnv(database.adminUrl), { stateDir });
      expect(statuses(report)).toEqual([
        ["node", "pass"],
        ["configuration", "pass"],
        ["database reachable", "pass"],
        ["database migrated", "pass"],
        ["app user", "pass"],
        ["app user sign-in", "skip"],
        ["object store", "pass"],
        ["object store", "pass"],
        ["queue", "pass"],
      ]);
      expect(report.ok).toBe(true);
    } finally {
      await database.drop();
    }
  });

  it("signs in as the app user with the password npm start keeps, and says when it no longer works", async () => {
    const database = await createTestDatabase("doctor_password");
    const folder = await mkdtemp(join(tmpdir(), "pixel-lab-doctor-"));
    const key = appUserPasswordKey(database.adminUrl, database.appUser?.user ?? "");
    try {
      await writeFile(
        join(folder, "database-users.json"),
        JSON.stringify({ [key]: database.appUser?.password }),
      );
      const report = await runDoctor(stackEnv(database.adminUrl), { stateDir: folder });
      expect(checkNamed(report, "app user sign-in").map((check) => check.status)).toEqual(["pass"]);

      await writeFile(
        join(folder, "database-users.json"),
        JSON.stringify({ [key]: "not-the-password-any-more" }),
      );
      const stale = await runDoctor(stackEnv(database.adminUrl), { stateDir: folder });
      expect(checkNamed(stale, "app user sign-in")).toEqual([
        expect.objectContaining({ status: "fail", detail: expect.stringContaining("refused user") }),
      ]);
      expect(stale.ok).toBe(false);
    } finally {
      await rm(folder, { recursive: true, force: true });
      await database.drop();
    }
  });

  it("reports an unmigrated database and a missing app user, each with its fix", async () => {
    const database = await createTestDatabase("doctor_bare", { migrated: false, as: "admin" });
    try {
      const report = await runDoctor(stackEnv(database.adminUrl), { stateDir });
      const versions = (await loadMigrations()).map((migration) => migration.version);
      expect(checkNamed(report, "database migrated")).toEqual([
        {
          name: "database migrated",
          status: "fail",
          detail: `${versions.length} pending migration(s): ${versions.join(", ")}`,
          fixes: ["`npm start` applies them (as the admin) before it serves anything"],
        },
      ]);
      expect(checkNamed(report, "app user")).toEqual([
        expect.objectContaining({ status: "fail", detail: expect.stringMatching(/_app does not exist$/) }),
      ]);
      expect(report.ok).toBe(false);
    } finally {
      await database.drop();
    }
  });

  it("reports a database that does not exist on the server", async () => {
    const missing = uniqueDatabaseUrl("doctor_missing");
    const report = await runDoctor(stackEnv(missing), { stateDir });
    expect(checkNamed(report, "database reachable").map((check) => check.status)).toEqual(["pass"]);
    expect(checkNamed(report, "database migrated")).toEqual([
      {
        name: "database migrated",
        status: "fail",
        detail: `database ${new URL(missing).pathname.slice(1)} does not exist on the server`,
        fixes: ["`npm start` creates and migrates it"],
      },
    ]);
    expect(report.ok).toBe(false);
  });

  it("reports grants beyond the app user's", async () => {
    const database = await createTestDatabase("doctor_grants");
    try {
      await sql
        .raw(`GRANT DROP ON \`${database.name}\`.products TO '${database.appUser?.user}'@'%'`)
        .execute(database.admin);
      const report = await runDoctor(stackEnv(database.adminUrl), { stateDir });
      expect(checkNamed(report, "app user")).toEqual([
        expect.objectContaining({
          status: "fail",
          detail: expect.stringContaining(`beyond them: DROP ON ${database.name}.products`),
          fixes: [expect.stringContaining("revokes the rest")],
        }),
      ]);
    } finally {
      await database.drop();
    }
  });

  it("reports a server and an emulator that do not answer, with what to do", async () => {
    const port = await freePort();
    const report = await runDoctor(
      {
        PATH: process.env.PATH,
        DATABASE_URL: `mysql://root@127.0.0.1:${port}/pixel_lab`,
        S3_ENDPOINT: nowhere,
        SQS_ENDPOINT: nowhere,
      },
      { stateDir },
    );
    expect(checkNamed(report, "database reachable")).toEqual([
      expect.objectContaining({
        status: "fail",
        detail: `mysql://root@127.0.0.1:${port}/pixel_lab (DATABASE_URL): nothing listens at 127.0.0.1:${port} (connection refused)`,
        fixes: expect.arrayContaining([expect.stringContaining("start MariaDB or MySQL")]),
      }),
    ]);
    expect(checkNamed(report, "object store")).toEqual([
      expect.objectContaining({
        status: "fail",
        detail: `bucket pixel-lab-local-raw at ${nowhere}: nothing answers (connection refused)`,
        fixes: expect.arrayContaining([expect.stringContaining("runs inside `npm start`")]),
      }),
    ]);
    expect(checkNamed(report, "queue").map((check) => check.status)).toEqual(["fail"]);
    expect(report.ok).toBe(false);
  });

  it("reports each invalid variable by name, through the runtime's own schema", async () => {
    const report = await runDoctor(
      {
        ...stackEnv(`${TEST_DATABASE_SERVER}/pixel_lab_unused`),
        ALLOWED_ORIGINS: "*",
        MAX_UPLOAD_BYTES: "lots",
      },
      { stateDir },
    );
    expect(checkNamed(report, "configuration").map((check) => check.detail.split(":")[0])).toEqual([
      "MAX_UPLOAD_BYTES",
      "ALLOWED_ORIGINS",
    ]);
    expect(checkNamed(report, "object store and queue").map((check) => check.status)).toEqual(["skip"]);
    expect(report.ok).toBe(false);
  });

  it("exits 1 from the command line when something fails, printing each problem and its fix", async () => {
    const result = await new Promise<{ code: number | null; output: string }>((resolve) => {
      const child = spawn(process.execPath, ["bin/doctor.ts"], {
        cwd: ROOT,
        env: {
          ...process.env,
          DATABASE_URL: "mysql://root@127.0.0.1:1/pixel_lab",
          S3_ENDPOINT: nowhere,
          SQS_ENDPOINT: nowhere,
        },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let output = "";
      child.stdout.on("data", (chunk: Buffer) => {
        output += chunk.toString();
      });
      child.stderr.on("data", (chunk: Buffer) => {
        output += chunk.toString();
      });
      child.once("exit", (code) => resolve({ code, output }));
    });
    expect(result.code).toBe(1);
    expect(result.output).toMatch(/ok {4}node +Node 24\./);
    expect(result.output).toMatch(
      /FAIL {2}database reachable +mysql:\/\/root@127\.0\.0\.1:1\/pixel_lab \(DATABASE_URL\): nothing listens/,
    );
    expect(result.output).toMatch(/^ +fix: start MariaDB or MySQL/m);
    expect(result.output).toContain("problem(s). Fix them and run `npm run doctor` again.");
  });
});
