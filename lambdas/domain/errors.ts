import type { ImageProblem } from "../engine/index.ts";

/** A problem with one field of a request, e.g. `{ path: "products[3].price", message: "..." }`. */
export interface FieldProblem {
  path: string;
  message: string;
}

export type ErrorCode =
  | "VALIDATION_FAILED"
  | "UNAUTHORIZED"
  | "FORBIDDEN"
  | "NOT_FOUND"
  | "CONFLICT"
  | "PAYLOAD_TOO_LARGE"
  | "UNSUPPORTED_MEDIA_TYPE"
  | "INTERNAL";

const HTTP_STATUS: Record<ErrorCode, number> = {
  VALIDATION_FAILED: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  INTERNAL: 500,
};

/**
 * An error a caller can act on. The HTTP layer maps it to a status in one place
 * (`lambdas/handlers/http/http-handler.ts`); anything that is not an AppError becomes a 500 with no details.
 */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly details: FieldProblem[];

  constructor(code: ErrorCode, message: string, details: FieldProblem[] = []) {
    super(message);
    this.name = "AppError";
    this.code = code;
    this.details = details;
  }

  get httpStatus(): number {
    return HTTP_STATUS[this.code];
  }
}

export const notFound = (what: string, id: string) =>
  new AppError("NOT_FOUND", `${what} ${id} does not exist`);

/** Why an upload can never be processed; a metric dimension, so a small fixed set. */
export type FailureCode =
  | ImageProblem
  /** More bytes than the upload's limit (checked before reading them). */
  | "TOO_LARGE"
  /** The original is no longer in the raw bucket (raw objects expire). */
  | "ORIGINAL_MISSING";

/**
 * An upload that will never succeed however often it is retried: once its bytes are in memory, nothing
 * that goes wrong (not an image, too large, corrupt, an engine fault) is transient. The worker marks the
 * product `failed` with `reason` and does not retry.
 */
export class PermanentFailure extends Error {
  readonly code: FailureCode;
  readonly reason: string;

  constructor(code: FailureCode, reason: string, options?: { cause?: unknown }) {
    super(reason, options);
    this.name = "PermanentFailure";
    this.code = code;
    this.reason = reason;
  }
}

/** Why a stored original can no longer be read, in words a seller can act on. */
export const originalMissingReason = (rawRetentionDays: number): string =>
  `the original photo is no longer stored (originals are kept for ${rawRetentionDays} days after upload); upload the photo again`;

/** Another writer changed the row first; the caller retries from a fresh read. */
export class StaleVersionError extends Error {
  constructor(productId: string) {
    super(`product ${productId} was changed concurrently`);
    this.name = "StaleVersionError";
  }
}
