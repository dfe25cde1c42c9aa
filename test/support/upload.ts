import { readFile } from "node:fs/promises";
import { basename } from "node:path";

export interface UploadTicket {
  url: string;
  fields: Record<string, string>;
}

/** Sends a file the way a browser sends a presigned POST: the policy fields first, the file last. */
export const postUpload = async (
  ticket: UploadTicket,
  body: Uint8Array,
  filename = "photo",
): Promise<{ status: number; text: string }> => {
  const form = new FormData();
  for (const [name, value] of Object.entries(ticket.fields)) form.append(name, value);
  form.append(
    "file",
    new Blob([body], { type: ticket.fields["Content-Type"] ?? "application/octet-stream" }),
    filename,
  );
  const response = await fetch(ticket.url, { method: "POST", body: form });
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
