/**
 * A MariaDB or MySQL server of the local stack's own, for a machine that has the server installed but not
 * running (or running elsewhere): its data directory, socket, pid file and log live under the local state
 * folder (`.local/`), it listens on 127.0.0.1 only, its root has no password (nothing outside this machine
 * can reach it), and it lives exactly as long as `npm start`.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { accessSync, constants, existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { mkdir, readFile, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { delimiter, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { createConnection } from "mysql2/promise";
import type { Log } from "../lambdas/domain/ports.ts";

export interface ServerInstall {
  /** `mariadb` or `mysql`: they initialise a data directory differently. */
  kind: "mariadb" | "mysql";
  /** The server program (`mariadbd`, `mysqld`). */
  server: string;
  /** MariaDB's `mariadb-install-db`; MySQL's server initialises its own directory. */
  installDb: string | undefined;
}

/** Server programs live in sbin on Debian and Red Hat, and elsewhere on macOS; a user's PATH often lacks sbin. */
const EXTRA_DIRECTORIES = [
  "/usr/sbin",
  "/usr/local/sbin",
  "/usr/local/bin",
  "/usr/local/mysql/bin",
  "/opt/homebrew/bin",
  "/opt/homebrew/sbin",
];

const findProgram = (name: string, path: string | undefined): string | undefined => {
  const directories = [...(path ?? "").split(delimiter).filter(Boolean), ...EXTRA_DIRECTORIES];
  for (const directory of directories) {
    const candidate = join(directory, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
};

/** The server installed on this machine, MariaDB first (Debian's `mysqld` is MariaDB's, under another name). */
export const findServerInstall = (path = process.env.PATH): ServerInstall | undefined => {
  const mariadbd = findProgram("mariadbd", path);
  const mariadbInstallDb = findProgram("mariadb-install-db", path) ?? findProgram("mysql_install_db", path);
  if (mariadbd && mariadbInstallDb) return { kind: "mariadb", server: mariadbd, installDb: mariadbInstallDb };
  const mysqld = findProgram("mysqld", path);
  if (!mysqld) return undefined;
  // MariaDB before 10.5 ships only `mysqld` and `mysql_install_db`; MySQL 8 has no install-db script.
  const installDb = findProgram("mysql_install_db", path);
  return installDb
    ? { kind: "mariadb", server: mysqld, installDb }
    : { kind: "mysql", server: mysqld, installDb: undefined };
};

export interface PrivateServerFiles {
  dataDir: string;
  socket: string;
  pidFile: string;
  errorLog: string;
  /** What `npm run doctor` reads to find the running server: `{ pid, port, dataDir }`. */
  stateFile: string;
}

/** Unix sockets have a path limit of about 104 bytes; a deep checkout gets its socket in the temp folder. */
const MAX_SOCKET_PATH = 100;

export const privateServerFiles = (stateDir: string): PrivateServerFiles => {
  const socket = join(stateDir, "mysql.sock");
  return {
    dataDir: join(stateDir, "mysql"),
    socket:
      socket.length <= MAX_SOCKET_PATH
        ? socket
        : join("/tmp", `pixel-lab-${createHash("sha256").update(stateDir).digest("hex").slice(0, 12)}.sock`),
    pidFile: join(stateDir, "mysqld.pid"),
    errorLog: join(stateDir, "mysql-error.log"),
    stateFile: join(stateDir, "private-database.json"),
  };
};

export interface PrivateServerState {
  pid: number;
  port: number;
  dataDir: string;
}

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** The running server this state folder's pid file names, if it is alive and really serves this data directory. */
const ownServerPid = (files: PrivateServerFiles): number | undefined => {
  if (!existsSync(files.pidFile)) return undefined;
  const pid = Number(readFileSync(files.pidFile, "utf8").trim());
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return undefined;
  try {
    // The pid file may be stale and the pid reused by another program: only a server of this data directory counts.
    const commandLine = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    return commandLine.includes(files.dataDir) ? pid : undefined;
  } catch {
    return undefined;
  }
};

/** The private server `npm start` is running now, as `npm run doctor` finds it. */
export const runningPrivateServer = (stateDir: string): PrivateServerState | undefined => {
  const files = privateServerFiles(stateDir);
  if (!existsSync(files.stateFile)) return undefined;
  try {
    const state = JSON.parse(readFileSync(files.stateFile, "utf8")) as PrivateServerState;
    return ownServerPid(files) === state.pid ? state : undefined;
  } catch {
    return undefined;
  }
};

const waitForExit = async (pid: number, timeoutMs: number): Promise<boolean> => {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return true;
    await sleep(100);
  }
  return !isAlive(pid);
};

const portIsFree = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const probe = createServer();
    probe.once("error", () => resolve(false));
    probe.listen(port, "127.0.0.1", () => probe.close(() => resolve(true)));
  });

/** A TCP port nothing listens on right now (the OS picks it). */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      const port = typeof address === "object" && address ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });

const tail = async (file: string, lines = 15): Promise<string> => {
  try {
    return (await readFile(file, "utf8")).trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log written)";
  }
};

const run = (command: string, args: string[], logFile: string): Promise<number | null> =>
  new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.once("error", reject);
    child.once("exit", (code) => {
      writeFileSync(logFile, output);
      resolve(code);
    });
  });

/** As root, the server refuses to start unless told which account to run as; the files here are root's. */
const userOption = (): string[] => (process.getuid?.() === 0 ? ["--user=root"] : []);

export interface PrivateServer {
  /** `mysql://root@127.0.0.1:{port}`: the admin, no database. */
  serverUrl: string;
  port: number;
  install: ServerInstall;
  files: PrivateServerFiles;
  /** The data directory was made by this start (else an earlier one's was reused). */
  initialised: boolean;
  /** Shuts the server down cleanly and waits for it. */
  stop(): Promise<void>;
}

export class PrivateServerError extends Error {
  readonly log: string;
  constructor(message: string, log: string) {
    super(message);
    this.name = "PrivateServerError";
    this.log = log;
  }
}

export interface PrivateServerOptions {
  install: ServerInstall;
  /** The local state folder (`.local/`). */
  stateDir: string;
  /** The port to listen on; taken by something else, any free port instead. 0: any free port. */
  port: number;
  log: Log;
}

/**
 * Starts the private server: initialises its data directory the first time (then reuses it), stops a server
 * an earlier, killed run left behind on the same directory, and waits until it accepts connections.
 */
export const startPrivateServer = async (options: PrivateServerOptions): Promise<PrivateServer> => {
  const { install, stateDir, log } = options;
  const files = privateServerFiles(stateDir);
  await mkdir(stateDir, { recursive: true });

  const orphan = ownServerPid(files);
  if (orphan !== undefined) {
    log.warn("stopping the private database server an earlier run left behind", { pid: orphan });
    process.kill(orphan, "SIGTERM");
    if (!(await waitForExit(orphan, 60_000))) process.kill(orphan, "SIGKILL");
  }

  const initialised = !existsSync(join(files.dataDir, "mysql"));
  if (initialised) {
    await rm(files.dataDir, { recursive: true, force: true });
    const installLog = join(stateDir, "mysql-install.log");
    const code =
      install.kind === "mariadb" && install.installDb
        ? await run(
            install.installDb,
            [
              "--no-defaults",
              `--datadir=${files.dataDir}`,
              // Root signs in with no password, over TCP from 127.0.0.1 only (the server binds nowhere else).
              "--auth-root-authentication-method=normal",
              "--skip-test-db",
              "--skip-name-resolve",
              ...userOption(),
            ],
            installLog,
          )
        : await run(
            install.server,
            ["--no-defaults", "--initialize-insecure", `--datadir=${files.dataDir}`, ...userOption()],
            installLog,
          );
    if (code !== 0) {
      // A half-made directory would be taken for a made one next time.
      await rm(files.dataDir, { recursive: true, force: true });
      throw new PrivateServerError(
        `could not initialise a database directory in ${files.dataDir} (${install.installDb ?? install.server} exited with ${code})`,
        await tail(installLog),
      );
    }
  }

  let port = options.port === 0 ? await freePort() : options.port;
  if (!(await portIsFree(port))) {
    const taken = port;
    port = await freePort();
    log.info("the private database server's usual port is taken; using another", { taken, port });
  }

  await rm(files.pidFile, { force: true });
  const child: ChildProcess = spawn(
    install.server,
    [
      "--no-defaults",
      `--datadir=${files.dataDir}`,
      `--port=${port}`,
      "--bind-address=127.0.0.1",
      `--socket=${files.socket}`,
      `--pid-file=${files.pidFile}`,
      `--log-error=${files.errorLog}`,
      "--skip-name-resolve",
      ...(install.kind === "mysql" ? ["--mysqlx=OFF", "--skip-log-bin"] : []),
      ...userOption(),
    ],
    // Its own process group: Ctrl-C in the terminal reaches npm start alone, which drains its work and only
    // then stops the server (the work in flight still needs the database).
    { stdio: "ignore", detached: true },
  );
  const spawnFailed = new Promise<Error>((resolve) => child.once("error", resolve));
  let exited: number | null | undefined;
  child.once("exit", (code) => {
    exited = code;
  });
  const pid = child.pid;
  if (pid === undefined)
    throw new PrivateServerError(`could not run ${install.server}`, String(await spawnFailed));

  // If npm start ends any other way (an error, a second Ctrl-C), the server still goes down with it.
  const killNow = () => {
    if (exited === undefined && isAlive(pid)) process.kill(pid, "SIGTERM");
  };
  process.once("exit", killNow);

  const serverUrl = `mysql://root@127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exited !== undefined) {
      process.removeListener("exit", killNow);
      throw new PrivateServerError(
        `${install.server} stopped while starting (exit code ${exited})`,
        await tail(files.errorLog),
      );
    }
    try {
      const connection = await createConnection({ uri: serverUrl, connectTimeout: 2000 });
      await connection.end();
      break;
    } catch (error) {
      if (Date.now() > deadline) {
        killNow();
        throw new PrivateServerError(
          `${install.server} did not accept connections on 127.0.0.1:${port} within 60 s (${String(error)})`,
          await tail(files.errorLog),
        );
      }
      await sleep(200);
    }
  }
  writeFileSync(
    files.stateFile,
    JSON.stringify({ pid, port, dataDir: files.dataDir } satisfies PrivateServerState),
  );

  let stopping: Promise<void> | undefined;
  return {
    serverUrl,
    port,
    install,
    files,
    initialised,
    stop() {
      stopping ??= (async () => {
        rmSync(files.stateFile, { force: true });
        if (exited === undefined && isAlive(pid)) {
          process.kill(pid, "SIGTERM");
          if (!(await waitForExit(pid, 60_000))) process.kill(pid, "SIGKILL");
        }
        process.removeListener("exit", killNow);
      })();
      return stopping;
    },
  };
};
