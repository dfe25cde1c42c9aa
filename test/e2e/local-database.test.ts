import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runDoctor } from "../../local/doctor.ts";
import { mintLocalToken } from "../../local/identity.ts";
import { findServerInstall, freePort } from "../../local/private-server.ts";
import { type LocalStackProcess, startLocalStackProcess } from "../../local/stack-process.ts";

/**
 * `npm start`'s database as a newcomer meets it. Without a reachable server it says what it tried, why that
 * failed and what to do, and exits non-zero. On a machine that has MariaDB installed but nothing listening on the default port and no
 * DATABASE_URL: it runs a private server under its state folder, uses it, stops it on Ctrl-C and reuses its
 * data on the next start. This machine's own server listens on 3306, so the port `npm start` probes is moved
 * to one where nothing listens (LOCAL_DEFAULT_DATABASE_PORT).
 */

/** Every running process whose command line names this folder: the private server, if it is still there. */
const processesUsing = (folder: string): number[] =>
  readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(folder);
      } catch {
        return false;
      }
    })
    .map(Number);

let probePort: number;
const stateDirs: string[] = [];

const newStateDir = async () => {
  const folder = await mkdtemp(join(tmpdir(), "pixel-lab-private-db-"));
  stateDirs.push(folder);
  return folder;
};

const start = (stateDir: string) =>
  startLocalStackProcess({
    DATABASE_URL: undefined,
    LOCAL_DATA_DIR: stateDir,
    LOCAL_DEFAULT_DATABASE_PORT: String(probePort),
    LOCAL_PRIVATE_DATABASE_PORT: "0",
  });

/** Signed in as a seller with a token of the stack's key, which is kept in its state folder across restarts. */
const json = async (stack: LocalStackProcess, path: string, init: RequestInit = {}) => {
  const token = await mintLocalToken(stack.dataDir, { name: "restart-seller", roles: ["seller"] });
  const response = await fetch(`${stack.apiUrl}${path}`, {
    ...init,
    headers: { ...(init.headers as Record<string, string>), authorization: `Bearer ${token}` },
  });
  // biome-ignore lint/suspicious/noExplicitAny: response bodies are what the assertions examine
  return { status: response.status, body: (await response.json()) as any };
};

const createProduct = (stack: LocalStackProcess) =>
  json(stack, "/products", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      products: [
        {
          sku: "PRIVATE-1",
          title: "Kept across restarts",
          category: "test",
          mrp: "10.00",
          price: "9.00",
          gst: "18",
          contentType: "image/jpeg",
        },
      ],
    }),
  });

/** Runs `use` against a started stack, then Ctrl-C; resolves with the exit code once it has stopped. */
const withStack = async (stateDir: string, use: (stack: LocalStackProcess) => Promise<void>) => {
  const stack = await start(stateDir);
  let failure: unknown;
  try {
    await use(stack);
  } catch (error) {
    failure = error;
  }
  const code = await stack.stop();
  if (failure) throw failure;
  return { code, output: stack.output() };
};

beforeAll(async () => {
  probePort = await freePort();
});

afterAll(async () => {
  for (const folder of stateDirs) {
    // A failed assertion must not leave a server running: stop whatever still serves this folder.
    for (const pid of processesUsing(join(folder, "mysql"))) process.kill(pid, "SIGKILL");
    await rm(folder, { recursive: true, force: true });
  }
});

/** Runs `bin/local.ts` as `npm start` does, until it exits by itself (or 60 s pass). */
const runToExit = (env: Record<string, string>) =>
  new Promise<{ code: number | null; output: string }>((resolve, reject) => {
    const child = spawn(process.execPath, ["bin/local.ts"], {
      cwd: new URL("../../", import.meta.url).pathname,
      env: { ...process.env, PORT: "0", LOCAL_S3_PORT: "0", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    const collect = (chunk: Buffer) => {
      output += chunk.toString();
    };
    child.stdout.on("data", collect);
    child.stderr.on("data", collect);
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`npm start did not exit:\n${output}`));
    }, 60_000);
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });

describe("npm start without a reachable database", () => {
  it("says what it tried, why it failed and what to do, without a stack trace, and exits 1", async () => {
    const stateDir = await newStateDir();
    const url = `mysql://root@127.0.0.1:${probePort}/pixel_lab`;
    const { code, output } = await runToExit({ DATABASE_URL: url, LOCAL_DATA_DIR: stateDir });
    expect(code).toBe(1);
    expect(output).toContain("npm start could not reach the database.");
    expect(output).toContain(`tried   ${url} (DATABASE_URL)`);
    expect(output).toContain(`reason  nothing listens at 127.0.0.1:${probePort} (connection refused)`);
    expect(output).toMatch(/fix {5}start MariaDB or MySQL on this machine/);
    expect(output).toContain("npm run doctor");
    expect(output).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);
    expect(output).not.toContain("Pixel Lab local stack is running");
  });

  it("names the user the server refused, and hides the password it tried", async () => {
    const stateDir = await newStateDir();
    const server = new URL(process.env.TEST_DATABASE_SERVER ?? "mysql://root@127.0.0.1:3306");
    const url = `mysql://nobody:not-the-password@${server.host}/pixel_lab`;
    const { code, output } = await runToExit({ DATABASE_URL: url, LOCAL_DATA_DIR: stateDir });
    expect(code).toBe(1);
    expect(output).toContain(`tried   mysql://nobody:***@${server.host}/pixel_lab (DATABASE_URL)`);
    expect(output).toContain(`refused user 'nobody'`);
    expect(output).toMatch(/fix {5}put a user the server accepts, with its password, in DATABASE_URL/);
    expect(output).not.toContain("not-the-password");
  });
});

describe("npm start with a server installed but none running", () => {
  it("finds MariaDB or MySQL installed on this machine", () => {
    expect(findServerInstall()).toMatchObject({ server: expect.stringMatching(/mariadbd|mysqld/) });
  });

  it("runs a private server under its state folder, answers /health with it, and stops it on Ctrl-C", async () => {
    const stateDir = await newStateDir();
    const { code, output } = await withStack(stateDir, async (stack) => {
      expect(stack.output()).toContain("server: a private MariaDB server npm start runs (new data in");
      expect(stack.output()).toContain(join(stateDir, "mysql"));
      expect(stack.output()).toMatch(/handlers sign in as pixel_lab_app \(data only\)/);
      const health = await json(stack, "/health");
      expect(health).toMatchObject({ status: 200, body: { checks: { database: { status: "ok" } } } });
      const pid = Number(readFileSync(join(stateDir, "mysqld.pid"), "utf8").trim());
      expect(processesUsing(join(stateDir, "mysql"))).toEqual([pid]);

      // `npm run doctor` finds the same private server, and signs in as the app user with the kept password.
      const emulator = /S3 \+ SQS\s+(http:\/\/\S+)/.exec(stack.output())?.[1];
      const report = await runDoctor(
        {
          PATH: process.env.PATH,
          LOCAL_DEFAULT_DATABASE_PORT: String(probePort),
          S3_ENDPOINT: emulator,
          SQS_ENDPOINT: emulator,
        },
        { stateDir },
      );
      expect(report.checks.filter((check) => check.status !== "pass")).toEqual([]);
      expect(report.checks.find((check) => check.name === "database reachable")?.detail).toMatch(
        /npm start's private server/,
      );
    });
    expect(code, output).toBe(0);
    expect(processesUsing(join(stateDir, "mysql"))).toEqual([]);
    expect(existsSync(join(stateDir, "private-database.json"))).toBe(false);
  }, 120_000);

  it("reuses the data directory on the next start", async () => {
    const stateDir = await newStateDir();
    let productId = "";
    await withStack(stateDir, async (stack) => {
      const created = await createProduct(stack);
      expect(created.status).toBe(201);
      productId = created.body.products[0].id;
    });
    const { code, output } = await withStack(stateDir, async (stack) => {
      expect(stack.output()).toContain("server: a private MariaDB server npm start runs (reused data in");
      const product = await json(stack, `/products/${productId}`);
      expect(product).toMatchObject({
        status: 200,
        body: { sku: "PRIVATE-1", title: "Kept across restarts" },
      });
    });
    expect(code, output).toBe(0);
    expect(processesUsing(join(stateDir, "mysql"))).toEqual([]);
  }, 120_000);
});
