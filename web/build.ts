import { spawn } from "node:child_process";
import { open, readdir, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";

/**
 * Builds the dashboard for `npm start` when `web/dist` is missing or older than its sources, so
 * `npm ci && npm start` needs no other step. Several stacks may start at once (the end-to-end tests run in
 * parallel): one builds under a lock file while the others wait for it, and a build is written to a folder
 * of its own and renamed into place, so no stack ever serves half a build.
 */

export const WEB_DIR = new URL("./", import.meta.url).pathname;
export const DASHBOARD_DIST = join(WEB_DIR, "dist");
const LOCK = join(WEB_DIR, ".build.lock");
/** A lock older than this was left by a build that died. */
const STALE_LOCK_MS = 120_000;
const SOURCES = ["src", "public", "index.html", "vite.config.ts"];

const newestMtime = async (path: string): Promise<number> => {
  const info = await stat(path).catch(() => undefined);
  if (!info) return 0;
  if (!info.isDirectory()) return info.mtimeMs;
  const entries = await readdir(path);
  const times = await Promise.all(entries.map((entry) => newestMtime(join(path, entry))));
  return Math.max(info.mtimeMs, ...times);
};

/** Whether `web/dist` holds a build at least as new as every source file. */
export const dashboardIsFresh = async (): Promise<boolean> => {
  const built = await stat(join(DASHBOARD_DIST, "index.html")).catch(() => undefined);
  if (!built) return false;
  const sources = await Promise.all(SOURCES.map((source) => newestMtime(join(WEB_DIR, source))));
  return built.mtimeMs >= Math.max(...sources);
};

const runViteBuild = (outDir: string): Promise<void> =>
  new Promise((resolve, reject) => {
    const vite = new URL("../node_modules/vite/bin/vite.js", import.meta.url).pathname;
    const child = spawn(
      process.execPath,
      [vite, "build", "--config", join(WEB_DIR, "vite.config.ts"), "--outDir", outDir, "--logLevel", "warn"],
      // The bundle served is always a production one: an inherited NODE_ENV (vitest sets `test`) would make
      // Vite build React's development version.
      { cwd: WEB_DIR, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, NODE_ENV: "production" } },
    );
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.once("error", reject);
    child.once("exit", (code) =>
      code === 0 ? resolve() : reject(new Error(`vite build exited with ${code}:\n${output.trim()}`)),
    );
  });

const takeLock = async (): Promise<boolean> => {
  try {
    await (await open(LOCK, "wx")).close();
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    const held = await stat(LOCK).catch(() => undefined);
    if (held && Date.now() - held.mtimeMs > STALE_LOCK_MS) await rm(LOCK, { force: true });
    return false;
  }
};

/** Builds `web/dist` unless it is fresh; answers whether this call built it. */
export const ensureDashboardBuilt = async (
  onBuild: (reason: string) => void = () => {},
): Promise<boolean> => {
  for (;;) {
    if (await dashboardIsFresh()) return false;
    if (await takeLock()) break;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  try {
    if (await dashboardIsFresh()) return false;
    onBuild(
      (await stat(DASHBOARD_DIST).catch(() => undefined))
        ? "web/dist is older than web/src"
        : "web/dist is missing",
    );
    const staging = join(WEB_DIR, `.dist-${process.pid}`);
    const retired = join(WEB_DIR, `.dist-old-${process.pid}`);
    await rm(staging, { recursive: true, force: true });
    await runViteBuild(staging);
    await rename(DASHBOARD_DIST, retired).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== "ENOENT") throw error;
    });
    await rename(staging, DASHBOARD_DIST);
    await rm(retired, { recursive: true, force: true });
    return true;
  } finally {
    await rm(LOCK, { force: true });
  }
};
