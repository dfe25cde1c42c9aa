import { type FailureCode, PermanentFailure } from "./errors.ts";
import { describeUnsupported, SUPPORTED_FORMATS_TEXT, sniffImageFormat } from "./image-formats.ts";
import { enhancedKey, parseRawKey } from "./object-keys.ts";
import type { Clock, Log, ObjectStore, ProductRepository, VariantRecord } from "./ports.ts";
import { describeOverLimit } from "./sizes.ts";
import { readHeader, renderStandardVariant, STANDARD_VARIANT } from "./standard-variant.ts";

export interface WorkerSettings {
  rawBucket: string;
  enhancedBucket: string;
  maxUploadBytes: number;
  maxInputPixels: number;
  assetsBaseUrl: string;
}

export interface WorkerDeps {
  repository: ProductRepository;
  objectStore: ObjectStore;
  settings: WorkerSettings;
  clock: Clock;
  log: Log;
}

/** One `ObjectCreated` notification, already URL-decoded. */
export interface UploadedObject {
  bucket: string;
  key: string;
}

export interface Attempt {
  number: number;
  /** The queue will not deliver this message again: a failure now must leave a visible state. */
  isLast: boolean;
}

export type EnhanceOutcome =
  | { kind: "enhanced"; productId: string; sequence: number; variantMs: Record<string, number> }
  | { kind: "failed"; productId: string; sequence: number; code: FailureCode; reason: string }
  | { kind: "skipped"; reason: string };

/** Another photo of the same product is mid-flight; the message goes back to the queue to wait. */
export class ProductBusyError extends Error {
  constructor(productId: string) {
    super(`product ${productId} is still processing an earlier photo`);
    this.name = "ProductBusyError";
  }
}

export const assetUrl = (settings: WorkerSettings, key: string): string => `${settings.assetsBaseUrl}/${key}`;

const transientFailureReason = (attempt: Attempt): string =>
  `processing failed ${attempt.number} times because of a temporary fault (storage or database unavailable); upload the photo again to retry`;

/**
 * Turns one uploaded original into its variants and moves the product to `pending_review`, or to
 * `failed` with a reason a seller can act on. Safe to run twice for the same object: the first
 * claim of (bucket, key, ETag) wins and a repeat finds the work done.
 */
export const enhanceUpload = async (
  deps: WorkerDeps,
  object: UploadedObject,
  attempt: Attempt,
): Promise<EnhanceOutcome> => {
  const { repository, objectStore, settings, clock, log } = deps;
  if (object.bucket !== settings.rawBucket)
    return { kind: "skipped", reason: `bucket ${object.bucket} is not the raw bucket` };
  const rawKey = parseRawKey(object.key);
  if (!rawKey) return { kind: "skipped", reason: `${object.key} is not a raw upload key` };
  const { productId } = rawKey;

  const upload = await repository.findUploadByKey(object.key);
  if (!upload || upload.productId !== productId) {
    return { kind: "skipped", reason: `no upload was issued for ${object.key}` };
  }
  const head = await objectStore.head(object.bucket, object.key);
  if (!head) return { kind: "skipped", reason: `${object.key} no longer exists` };

  const claim = await repository.claimSequence(
    productId,
    upload.id,
    { bucket: object.bucket, key: object.key, etag: head.etag, bytes: head.bytes },
    clock(),
  );
  switch (claim.kind) {
    case "finished":
      return {
        kind: "skipped",
        reason: `duplicate delivery: sequence ${claim.sequence} already processed this object`,
      };
    case "unknown-product":
      return { kind: "skipped", reason: `product ${productId} does not exist` };
    case "busy":
      throw new ProductBusyError(productId);
    case "refused": {
      const reason = `a photo was uploaded while the product is ${claim.status}; it was not processed`;
      await repository.recordRefusedUpload(productId, object.key, reason, clock());
      return { kind: "skipped", reason };
    }
  }
  const { sequence } = claim;

  try {
    const limit = Math.min(upload.maxBytes, settings.maxUploadBytes);
    // The local emulator does not enforce the presigned POST's content-length-range, and a
    // policy is only as good as the code that checks it: measure before reading.
    if (head.bytes > limit) {
      const sizes = describeOverLimit(head.bytes, limit);
      throw new PermanentFailure(
        "TOO_LARGE",
        `the photo is ${sizes.size}; the limit is ${sizes.limit}. Compress or resize it and upload again`,
      );
    }
    const started = performance.now();
    const body = await objectStore.get(object.bucket, object.key);
    const format = sniffImageFormat(body);
    if (!format) {
      throw new PermanentFailure(
        "NOT_AN_IMAGE",
        `the upload is ${describeUnsupported(body)} (declared as ${upload.contentType}), not a ${SUPPORTED_FORMATS_TEXT} photo; upload the photo in one of those formats`,
      );
    }
    const header = await readHeader(body, format, settings.maxInputPixels);
    const rendered = await renderStandardVariant(body, header, settings.maxInputPixels);
    const key = enhancedKey(productId, sequence, STANDARD_VARIANT.name, STANDARD_VARIANT.extension);
    await objectStore.put(settings.enhancedBucket, key, rendered.body, STANDARD_VARIANT.contentType);
    const variant: VariantRecord = {
      variant: STANDARD_VARIANT.name,
      mode: STANDARD_VARIANT.mode,
      key,
      url: assetUrl(settings, key),
      format: rendered.format,
      width: rendered.width,
      height: rendered.height,
      bytes: rendered.bytes,
      processingMs: performance.now() - started,
      qualityMetadata: {},
      sizeMetadata: { quality: STANDARD_VARIANT.jpegQuality, encoder: "mozjpeg", encodes: 1 },
    };
    await repository.completeSequence(
      productId,
      sequence,
      { key: object.key, url: null, bytes: head.bytes, width: header.width, height: header.height },
      [variant],
      clock(),
    );
    log.info("photo enhanced", { productId, sequence, variants: 1, sourceFormat: format });
    return { kind: "enhanced", productId, sequence, variantMs: { [variant.variant]: variant.processingMs } };
  } catch (error) {
    if (error instanceof PermanentFailure) {
      await repository.failSequence(productId, sequence, error.reason, clock());
      log.warn("photo refused", {
        productId,
        sequence,
        reason: error.reason,
        cause: String(error.cause ?? ""),
      });
      return { kind: "failed", productId, sequence, code: error.code, reason: error.reason };
    }
    if (attempt.isLast) {
      const reason = transientFailureReason(attempt);
      try {
        await repository.failSequence(productId, sequence, reason, clock());
      } catch (markError) {
        log.error("could not mark the product failed after the last attempt", {
          productId,
          sequence,
          error: markError,
        });
      }
    }
    throw error;
  }
};
