import { readFile } from "node:fs/promises";
import { basename } from "node:path";
import { postPresigned, type UploadTicket } from "../../local/client.ts";

/** Sends a file as a browser sends a presigned POST, and answers S3's status and body for the test to judge. */
export const postUpload = async (
  ticket: UploadTicket,
  body: Uint8Array,
  filename = "photo",
): Promise<{ status: number; text: string }> => {
  const response = await postPresigned(ticket, body, filename);
  return { status: response.status, text: await response.text() };
};

export const postFile = async (ticket: UploadTicket, path: string) =>
  postUpload(ticket, await readFile(path), basename(path));

export const CORPUS = new URL("../../../shared/corpus/", import.meta.url).pathname;

/** Polls until `check` returns a value, or fails with the last thing it saw. */
export const eventually = async <T>(
  check: () => Promise<T | undefined>,
  { timeoutMs = 20_000, intervalMs = 100, what = "condition" } = {},
): Promise<T> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
};
