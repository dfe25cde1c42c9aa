import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

const ROOT = new URL("../", import.meta.url).pathname;

export interface LocalStackProcess {
  apiUrl: string;
  /** The emulator's S3 + SQS endpoint, where the queues and buckets answer (presigned POSTs go through its CORS front). */
  emulatorUrl: string;
  /** Its state folder: the token signing key is there (`mintLocalToken`). */
  dataDir: string;
  output(): string;
  /** Sends Ctrl-C and resolves with the exit code. */
  stop(): Promise<number | null>;
}

/**
 * Starts `bin/local.ts` as `npm start` would (same Node, fresh process, configured by environment
 * only) on free ports and its own data folder, and waits until it prints its addresses. A variable
 * given as `undefined` is removed from the child's environment. The end-to-end tests and the burst
 * benchmark use it.
 */
export const startLocalStackProcess = async (
  env: Record<string, string | undefined>,
): Promise<LocalStackProcess> => {
  const dataDir = await mkdtemp(join(tmpdir(), "pixel-lab-stack-"));
  const childEnv: Record<string, string | undefined> = {
    ...process.env,
    PORT: "0",
    LOCAL_S3_PORT: "0",
    LOCAL_DATA_DIR: dataDir,
    POWERTOOLS_LOG_LEVEL: "WARN",
    ...env,
  };
  const child: ChildProcess = spawn(process.execPath, ["bin/local.ts"], {
    cwd: ROOT,
    env: Object.fromEntries(Object.entries(childEnv).filter(([, value]) => value !== undefined)),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));

  const urls = await new Promise<{ apiUrl: string; emulatorUrl: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`local stack did not start:\n${output}`)), 60_000);
    const look = () => {
      const apiUrl = /API\s+(http:\/\/\S+)/.exec(output)?.[1];
      const emulatorUrl = /S3 \+ SQS\s+(http:\/\/\S+)/.exec(output)?.[1];
      if (apiUrl && emulatorUrl) {
        clearTimeout(timer);
        resolve({ apiUrl, emulatorUrl });
      }
    };
    child.stdout?.on("data", look);
    exited.then((code) => reject(new Error(`local stack exited with ${code}:\n${output}`)));
  });

  return {
    ...urls,
    dataDir: childEnv.LOCAL_DATA_DIR ?? dataDir,
    output: () => output,
    async stop() {
      child.kill("SIGINT");
      const code = await exited;
      await rm(dataDir, { recursive: true, force: true });
      return code;
    },
  };
};
