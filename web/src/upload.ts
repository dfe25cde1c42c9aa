import type { UploadContentType, UploadTicket } from "./api.ts";

/**
 * The per-file limit. The server's is `MAX_UPLOAD_BYTES` (25 MB by default), known to the page only in each
 * upload ticket's `maxBytes`, after the products exist: the page checks this before sending and the ticket's
 * own limit again before each upload.
 */
export const MAX_UPLOAD_BYTES = 25 * 1024 * 1024;

/** At most this many photos go to storage at once. */
export const UPLOAD_CONCURRENCY = 4;

const startsWith = (bytes: Uint8Array, signature: readonly number[], at = 0) =>
  signature.every((value, index) => bytes[at + index] === value);
const ascii = (bytes: Uint8Array, from: number, to: number) => String.fromCharCode(...bytes.slice(from, to));

/**
 * The photo's format by its first bytes (never its name or the browser's guess), among the formats the API
 * takes (`lambdas/domain/upload-types.ts`); `undefined` for anything else.
 */
export const sniffImage = (bytes: Uint8Array): UploadContentType | undefined => {
  if (startsWith(bytes, [0xff, 0xd8, 0xff])) return "image/jpeg";
  if (startsWith(bytes, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return "image/png";
  if (ascii(bytes, 0, 4) === "RIFF" && ascii(bytes, 8, 12) === "WEBP") return "image/webp";
  if (ascii(bytes, 4, 8) === "ftyp" && ["avif", "avis"].includes(ascii(bytes, 8, 12))) return "image/avif";
  if (startsWith(bytes, [0x49, 0x49, 0x2a, 0x00]) || startsWith(bytes, [0x4d, 0x4d, 0x00, 0x2a]))
    return "image/tiff";
  if (["GIF87a", "GIF89a"].includes(ascii(bytes, 0, 6))) return "image/gif";
  return undefined;
};

export type FileCheck = { ok: true; contentType: UploadContentType } | { ok: false; reason: string };

const megabytes = (bytes: number) => `${Math.round(bytes / (1024 * 1024))} MB`;

/** Checks a picked file before anything is sent: not empty, not over the limit, a supported image. */
export const checkFile = async (file: File, maxBytes = MAX_UPLOAD_BYTES): Promise<FileCheck> => {
  if (file.size === 0) return { ok: false, reason: "the file is empty" };
  if (file.size > maxBytes)
    return { ok: false, reason: `it is ${megabytes(file.size)}, over the ${megabytes(maxBytes)} limit` };
  const head = new Uint8Array(await file.slice(0, 16).arrayBuffer());
  const contentType = sniffImage(head);
  return contentType
    ? { ok: true, contentType }
    : { ok: false, reason: "it is not a JPEG, PNG, WebP, AVIF, TIFF or GIF image" };
};

/** A sku from a file name: its stem, with anything outside the API's sku pattern made `-`, at most 64. */
export const skuFromFileName = (name: string): string => {
  const stem = name.replace(/\.[^.]*$/, "");
  const sku = stem
    .replace(/[^A-Za-z0-9._-]+/g, "-")
    .replace(/^[^A-Za-z0-9]+/, "")
    .slice(0, 64)
    .toUpperCase();
  return sku || "PHOTO";
};

/** A title from a file name: its stem, words spaced, first letter capital. */
export const titleFromFileName = (name: string): string => {
  const words = name
    .replace(/\.[^.]*$/, "")
    .replace(/[-_.]+/g, " ")
    .trim();
  return words ? words.charAt(0).toUpperCase() + words.slice(1) : "Untitled";
};

export class UploadError extends Error {
  /** The storage refused the ticket (expired, or its policy): a retry needs a fresh one. */
  readonly refused: boolean;
  constructor(message: string, refused: boolean) {
    super(message);
    this.refused = refused;
  }
}

/**
 * Sends the file with its presigned POST, fields first and the file last, reporting progress (0–1): an
 * XMLHttpRequest, because fetch reports no upload progress.
 */
export const uploadWithTicket = (
  ticket: UploadTicket,
  file: File,
  onProgress: (fraction: number) => void,
): Promise<void> =>
  new Promise((resolve, reject) => {
    const form = new FormData();
    for (const [name, value] of Object.entries(ticket.fields)) form.append(name, value);
    form.append("file", file);
    const request = new XMLHttpRequest();
    request.open("POST", ticket.url);
    request.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    });
    request.addEventListener("load", () => {
      if (request.status >= 200 && request.status < 300) {
        onProgress(1);
        resolve();
      } else {
        const code = /<Code>([^<]+)<\/Code>/.exec(request.responseText)?.[1];
        reject(new UploadError(`storage answered ${request.status}${code ? ` (${code})` : ""}`, true));
      }
    });
    request.addEventListener("error", () =>
      reject(new UploadError("the upload did not reach storage", false)),
    );
    request.addEventListener("abort", () => reject(new UploadError("the upload was cancelled", false)));
    request.send(form);
  });

/** Runs `tasks` with at most `limit` at a time. */
export const runLimited = async (tasks: (() => Promise<void>)[], limit: number): Promise<void> => {
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) {
      const task = tasks[next];
      next += 1;
      await task?.();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
};
