import {
  describeUnsupported,
  SUPPORTED_FORMATS_TEXT,
  sniffImageFormat,
} from "../../lambdas/engine/formats.ts";
import { DEFAULT_MAX_UPLOAD_BYTES } from "../../lambdas/names.ts";
import type { UploadContentType, UploadTicket } from "./api.ts";

/**
 * The per-file limit when `config.json` names none: the API's default `MAX_UPLOAD_BYTES`. Each upload ticket's
 * `maxBytes` is checked again before sending.
 */
export const MAX_UPLOAD_BYTES = DEFAULT_MAX_UPLOAD_BYTES;

/** At most this many photos go to storage at once. */
export const UPLOAD_CONCURRENCY = 4;

/**
 * The photo's format by its first bytes (never its name or the browser's guess), with the engine's own
 * sniffing: every format it decodes is one the API takes (`lambdas/domain/upload-types.ts`, `image/{format}`).
 */
export const sniffImage = (bytes: Uint8Array): UploadContentType | undefined => {
  const format = sniffImageFormat(bytes);
  return format ? (`image/${format}` satisfies UploadContentType) : undefined;
};

export type FileCheck = { ok: true; contentType: UploadContentType } | { ok: false; reason: string };

const megabytes = (bytes: number) => `${Math.round(bytes / (1024 * 1024))} MB`;

/** Checks a picked file before anything is sent: not empty, not over the limit, a supported image. */
export const checkFile = async (file: File, maxBytes = MAX_UPLOAD_BYTES): Promise<FileCheck> => {
  if (file.size === 0) return { ok: false, reason: "the file is empty" };
  if (file.size > maxBytes)
    return { ok: false, reason: `it is ${megabytes(file.size)}, over the ${megabytes(maxBytes)} limit` };
  // Enough bytes for the engine to tell an SVG or a text file from an image, as the worker's reason does.
  const head = new Uint8Array(await file.slice(0, 512).arrayBuffer());
  const contentType = sniffImage(head);
  return contentType
    ? { ok: true, contentType }
    : { ok: false, reason: `it is ${describeUnsupported(head)}, not a ${SUPPORTED_FORMATS_TEXT} image` };
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
