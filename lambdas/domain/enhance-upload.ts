import {
  type EngineResult,
  hammingDistance,
  hashBands,
  ImageError,
  isNearDuplicate,
  renderImage,
  SUPPORTED_FORMATS_TEXT,
} from "../engine/index.ts";
import type { VariantSpec } from "../engine/variant-spec.ts";
import type { AiStepMessage } from "./ai-step.ts";
import { type FailureCode, originalMissingReason, PermanentFailure } from "./errors.ts";
import { enhancedKey, parseRawKey } from "./object-keys.ts";
import type {
  Clock,
  DuplicateMatch,
  Log,
  ObjectStore,
  OriginalRecord,
  ProductRepository,
  SequenceClaim,
  SkippedVariantRecord,
  VariantRecord,
} from "./ports.ts";
import type { ChangePublisher } from "./push.ts";
import { describeOverLimit } from "./sizes.ts";

export interface WorkerSettings {
  /** The variants every upload gets (default `DEFAULT_VARIANT_SET`). */
  variants: readonly VariantSpec[];
  rawBucket: string;
  enhancedBucket: string;
  maxUploadBytes: number;
  maxInputPixels: number;
  assetsBaseUrl: string;
  /** How long raw originals are kept before they expire (the raw bucket's lifecycle), for reasons. */
  rawRetentionDays: number;
}

/**
 * Where a photo's AI step goes once its sharp variants are stored: a message of its own on the queue, or
 * nowhere, and then a history row says why.
 */
export type AiScheduler =
  | { kind: "queue"; send(message: AiStepMessage): Promise<void> }
  | { kind: "off"; reason: string };

export const AI_NOT_CONFIGURED = "the AI step was skipped: no Gemini API key is configured";

export interface WorkerDeps {
  repository: ProductRepository;
  objectStore: ObjectStore;
  settings: WorkerSettings;
  clock: Clock;
  log: Log;
  /** Default: off, as no key is configured. */
  ai?: AiScheduler | undefined;
  /** Tells open dashboards of each status change and stored variant; absent: the changes feed alone. */
  push?: ChangePublisher | undefined;
}

/** Asks for the AI step of a photo's sequence, or records that it has none. */
const scheduleAiStep = async (deps: WorkerDeps, productId: string, sequence: number): Promise<void> => {
  const ai = deps.ai ?? { kind: "off", reason: AI_NOT_CONFIGURED };
  if (ai.kind === "queue") return ai.send({ type: "ai", productId, sequence });
  await deps.repository.recordAiSkipped(productId, sequence, ai.reason, deps.clock());
};

/** One `ObjectCreated` notification, already URL-decoded. */
export interface UploadedObject {
  bucket: string;
  key: string;
  /** The notification's `eventTime`: when the object landed (to the millisecond, where S3 says so). */
  eventTime?: Date | undefined;
}

export interface Attempt {
  number: number;
  /** The queue will not deliver this message again: a failure now must leave a visible state. */
  isLast: boolean;
}

export type EnhanceOutcome =
  | { kind: "enhanced"; productId: string; sequence: number; variantMs: Record<string, number> }
  | { kind: "failed"; productId: string; sequence: number; code: FailureCode; reason: string }
  /** Another photo of the product is being processed: this one must wait its turn and come back. */
  | { kind: "waiting"; productId: string; reason: string }
  | { kind: "skipped"; reason: string };

/** A photo that kept waiting for a busy product longer than it may: it is retried like any transient fault. */
export class ProductBusyError extends Error {
  constructor(productId: string) {
    super(`product ${productId} is still processing an earlier photo`);
    this.name = "ProductBusyError";
  }
}

export const assetUrl = (settings: WorkerSettings, key: string): string => `${settings.assetsBaseUrl}/${key}`;

/** Writes the rendered variants to the enhanced bucket, concurrently. */
const storeVariants = async (
  deps: WorkerDeps,
  productId: string,
  sequence: number,
  result: EngineResult,
): Promise<{ variants: VariantRecord[]; skipped: SkippedVariantRecord[] }> => {
  const { original } = result;
  const rendered = result.variants.filter((variant) => variant.kind === "rendered");
  if (rendered.length === 0) {
    const reasons = result.variants
      .map((variant) => (variant.kind === "skipped" ? variant.reason : ""))
      .join("; ");
    throw new PermanentFailure("UNPROCESSABLE", `no variant could be made from this photo: ${reasons}`);
  }
  const variants = await Promise.all(
    rendered.map(async (variant): Promise<VariantRecord> => {
      const key = enhancedKey(productId, sequence, variant.spec.name, variant.encoded.extension);
      await deps.objectStore.put(
        deps.settings.enhancedBucket,
        key,
        variant.encoded.body,
        variant.encoded.contentType,
      );
      return {
        variant: variant.spec.name,
        mode: variant.spec.mode,
        key,
        url: assetUrl(deps.settings, key),
        format: variant.encoded.format,
        width: variant.encoded.width,
        height: variant.encoded.height,
        bytes: variant.encoded.bytes,
        processingMs: variant.milliseconds,
        qualityMetadata: {
          before: original.quality.scores,
          after: variant.quality.scores,
          measurementsBefore: original.quality.measurements,
          measurementsAfter: variant.quality.measurements,
          flagsBefore: original.quality.flags,
          operations: variant.operations,
          ...(variant.spec.profile ? { profile: variant.spec.profile } : {}),
          ...(variant.compliance ? { compliance: variant.compliance } : {}),
        },
        sizeMetadata: { ...variant.encoded.size },
      };
    }),
  );
  const skipped = result.variants.flatMap((variant) =>
    variant.kind === "skipped"
      ? [
          {
            variant: variant.spec.name,
            mode: variant.spec.mode,
            reason: variant.reason,
            operations: variant.operations,
          },
        ]
      : [],
  );
  return { variants, skipped };
};

/** At most this many candidates are read per photo: every answer stays small, whatever the catalogue. */
export const DUPLICATE_CANDIDATE_LIMIT = 100;

/** What the engine found about a new photo, and the other products whose latest photo it nearly duplicates. */
const analyseOriginal = async (
  deps: WorkerDeps,
  productId: string,
  result: EngineResult,
): Promise<{ original: OriginalRecord; duplicates: DuplicateMatch[] }> => {
  const { original } = result;
  const bands = hashBands(original.hashes.pHash);
  const candidates = await deps.repository.findDuplicateCandidates(
    productId,
    bands,
    DUPLICATE_CANDIDATE_LIMIT,
  );
  const duplicates = candidates
    .filter((candidate) =>
      isNearDuplicate(original.hashes, { pHash: candidate.pHash, dHash: candidate.dHash }),
    )
    .map((candidate) => ({
      originalId: candidate.originalId,
      productId: candidate.productId,
      pHashDistance: hammingDistance(original.hashes.pHash, candidate.pHash),
      dHashDistance: hammingDistance(original.hashes.dHash, candidate.dHash),
    }));
  return {
    duplicates,
    original: {
      width: original.width,
      height: original.height,
      analysis: {
        quality: original.quality,
        background: original.background,
        compliance: original.compliance,
        decodeMilliseconds: Math.round(result.decodeMilliseconds),
      },
      pHash: original.hashes.pHash,
      dHash: original.hashes.dHash,
      bands,
    },
  };
};

const transientFailureReason = (attempt: Attempt): string =>
  `processing failed ${attempt.number} times because of a temporary fault (storage or database unavailable); upload the photo again to retry`;

/** What the seller should do about each kind of image problem, after the engine's account of it. */
const IMAGE_ADVICE: Record<ImageError["problem"], string> = {
  NOT_AN_IMAGE: "upload the photo in one of those formats",
  TOO_MANY_PIXELS: "Resize it and upload again",
  TOO_SMALL: "Upload a larger photo",
  CORRUPT: "export the photo again and re-upload it",
  UNPROCESSABLE: "export it again as a JPEG or PNG and re-upload it",
  BLANK: "upload a photo that shows the product",
};

/** The engine's account of what is wrong with the pixels, as a reason the seller can act on. */
const imageFailure = (error: ImageError, declaredType: string): PermanentFailure => {
  const advice = IMAGE_ADVICE[error.problem];
  switch (error.problem) {
    case "NOT_AN_IMAGE":
      return new PermanentFailure(
        error.problem,
        `the upload is ${error.found} (declared as ${declaredType}), not a ${SUPPORTED_FORMATS_TEXT} photo; ${advice}`,
        { cause: error },
      );
    case "TOO_MANY_PIXELS":
    case "TOO_SMALL":
      return new PermanentFailure(error.problem, `${error.message}. ${advice}`, { cause: error });
    case "CORRUPT":
    case "UNPROCESSABLE":
    case "BLANK":
      return new PermanentFailure(error.problem, `${error.message}; ${advice}`, { cause: error });
  }
};

/**
 * Turns one uploaded original into its variants and moves the product to `pending_review`, or to
 * `failed` with a reason a seller can act on. Safe to run twice for the same object: the first
 * claim of (bucket, key, ETag) wins and a repeat finds the work done. A photo for a product still busy
 * with another comes back as `waiting`; one that a newer photo of the product superseded is skipped.
 */
export const enhanceUpload = async (
  deps: WorkerDeps,
  object: UploadedObject,
  attempt: Attempt,
): Promise<EnhanceOutcome> => {
  const { repository, objectStore, settings, clock } = deps;
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
    {
      bucket: object.bucket,
      key: object.key,
      etag: head.etag,
      bytes: head.bytes,
      landedAt: object.eventTime ?? head.lastModified ?? clock(),
    },
    clock(),
  );
  if (claim.kind === "refused") {
    const reason = `a photo was uploaded while the product is ${claim.status}; it was not processed`;
    await repository.recordRefusedUpload(productId, object.key, reason, clock());
    return { kind: "skipped", reason };
  }
  if (claim.kind === "finished" && deps.ai?.kind === "queue") {
    // The delivery that finished the photo may have died before asking for its AI step: ask again (the
    // step does nothing twice).
    await scheduleAiStep(deps, productId, claim.sequence);
  }
  if (claim.kind !== "started" && claim.kind !== "resumed") {
    return settledClaim(claim, productId, "processed this object");
  }
  return processSequence(
    deps,
    {
      productId,
      sequence: claim.sequence,
      bucket: object.bucket,
      key: object.key,
      bytes: head.bytes,
      byteLimit: Math.min(upload.maxBytes, settings.maxUploadBytes),
      declaredType: upload.contentType,
      variants: settings.variants,
      findsDuplicates: true,
    },
    attempt,
  );
};

/**
 * A claim that starts no work: a repeat delivery of finished work, a superseded photo or a product gone
 * is skipped; a product busy with another photo makes this one wait.
 */
const settledClaim = (
  claim: Exclude<SequenceClaim, { kind: "started" | "resumed" | "refused" }>,
  productId: string,
  finishedWork: string,
): EnhanceOutcome => {
  switch (claim.kind) {
    case "finished":
      return {
        kind: "skipped",
        reason: `duplicate delivery: sequence ${claim.sequence} already ${finishedWork}`,
      };
    case "superseded":
      return { kind: "skipped", reason: `superseded by a newer photo of the product (${claim.newerKey})` };
    case "unknown-product":
      return { kind: "skipped", reason: `product ${productId} does not exist` };
    case "busy":
      return {
        kind: "waiting",
        productId,
        reason: `product ${productId} is still processing an earlier photo`,
      };
  }
};

interface SequenceWork {
  productId: string;
  sequence: number;
  bucket: string;
  key: string;
  bytes: number;
  byteLimit: number;
  declaredType: string;
  variants: readonly VariantSpec[];
  /** A new photo is analysed and compared with other products'; a re-enhancement of one is not. */
  findsDuplicates: boolean;
}

/**
 * The work of one claimed sequence: read, check, render, store, record — or fail with a reason. Once the
 * photo's bytes are in memory, nothing that goes wrong is transient: only the object store and the
 * database can fail in a way that a later attempt may not.
 */
const processSequence = async (
  deps: WorkerDeps,
  work: SequenceWork,
  attempt: Attempt,
): Promise<EnhanceOutcome> => {
  const { repository, objectStore, settings, clock, log } = deps;
  const { productId, sequence } = work;
  // The product is `processing` now: open pages hear it while the photo is read and rendered.
  const processingTold = deps.push?.productChanged(productId);
  try {
    // The local emulator does not enforce the presigned POST's content-length-range, and a
    // policy is only as good as the code that checks it: measure before reading.
    if (work.bytes > work.byteLimit) {
      const sizes = describeOverLimit(work.bytes, work.byteLimit);
      throw new PermanentFailure(
        "TOO_LARGE",
        `the photo is ${sizes.size}; the limit is ${sizes.limit}. Compress or resize it and upload again`,
      );
    }
    const started = performance.now();
    const body = await objectStore.get(work.bucket, work.key);
    if (!body) {
      throw new PermanentFailure("ORIGINAL_MISSING", originalMissingReason(settings.rawRetentionDays));
    }
    const result = await renderImage(body, {
      variants: work.variants,
      maxPixels: settings.maxInputPixels,
    }).catch((error: unknown) => {
      throw error instanceof ImageError
        ? imageFailure(error, work.declaredType)
        : new PermanentFailure(
            "UNPROCESSABLE",
            "the photo could not be processed; export it again and re-upload it",
            {
              cause: error,
            },
          );
    });
    const stored = await storeVariants(deps, productId, sequence, result);
    const analysed = work.findsDuplicates ? await analyseOriginal(deps, productId, result) : undefined;
    await repository.completeSequence(
      productId,
      sequence,
      {
        ...stored,
        ...analysed,
        source: {
          key: work.key,
          url: null,
          bytes: work.bytes,
          width: result.original.width,
          height: result.original.height,
        },
      },
      clock(),
    );
    await processingTold;
    await deps.push?.productChanged(productId);
    if (work.findsDuplicates) await scheduleAiStep(deps, productId, sequence);
    log.info("photo enhanced", {
      productId,
      sequence,
      variants: stored.variants.length,
      skipped: stored.skipped.length,
      duplicates: analysed?.duplicates.length ?? 0,
      sourceFormat: result.original.format,
      milliseconds: Math.round(performance.now() - started),
    });
    return {
      kind: "enhanced",
      productId,
      sequence,
      variantMs: Object.fromEntries(
        stored.variants.map((variant) => [variant.variant, variant.processingMs]),
      ),
    };
  } catch (error) {
    await processingTold;
    if (error instanceof PermanentFailure) {
      await repository.failSequence(productId, sequence, error.reason, clock());
      await deps.push?.productChanged(productId);
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
        await deps.push?.productChanged(productId);
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

/** A request to re-enhance a product's latest original with one chosen variant: a new sequence. */
export interface ReenhanceRequest {
  requestId: string;
  productId: string;
  variant: VariantSpec;
}

/**
 * Re-enhances the latest original: the request id stands in for the object's ETag in the sequence's
 * claim, so a redelivered request resumes its own sequence and two requests make two sequences.
 */
export const reenhanceProduct = async (
  deps: WorkerDeps,
  request: ReenhanceRequest,
  attempt: Attempt,
): Promise<EnhanceOutcome> => {
  const { repository, clock } = deps;
  const original = await repository.latestOriginal(request.productId);
  if (!original) return { kind: "skipped", reason: `product ${request.productId} has no processed original` };
  const claim = await repository.claimSequence(
    request.productId,
    original.uploadId,
    {
      bucket: original.bucket,
      key: original.key,
      etag: `reenhance:${request.requestId}`,
      bytes: original.bytes,
      landedAt: null,
    },
    clock(),
  );
  if (claim.kind === "refused") {
    return { kind: "skipped", reason: `the product is ${claim.status}: not re-enhanced` };
  }
  if (claim.kind !== "started" && claim.kind !== "resumed") {
    return settledClaim(claim, request.productId, "ran this request");
  }
  return processSequence(
    deps,
    {
      productId: request.productId,
      sequence: claim.sequence,
      bucket: original.bucket,
      key: original.key,
      bytes: original.bytes,
      byteLimit: Number.POSITIVE_INFINITY,
      declaredType: "a stored original",
      variants: [request.variant],
      findsDuplicates: false,
    },
    attempt,
  );
};
