/**
 * What the domain needs from the outside world, by interface. `lambdas/adapters/` holds one
 * implementation per outside system; tests substitute their own.
 */
import type { Product } from "./product.ts";
import type { NewProduct } from "./product-input.ts";
import type { ProductStatus } from "./product-status.ts";

export interface ProductImage {
  sequence: number;
  variant: string;
  key: string;
  format: string;
  width: number;
  height: number;
  bytes: number;
  /** Made by Gemini, not by the engine. */
  aiGenerated: boolean;
  /** The guardrail doubts it still shows the same product: never chosen automatically. */
  needsAttention: boolean;
  /** The guardrail's figures, for AI images. */
  guardrail: unknown;
}

export interface UploadRecord {
  id: string;
  productId: string;
  key: string;
  contentType: string;
  maxBytes: number;
  expiresAt: Date;
}

export interface SourceObject {
  bucket: string;
  key: string;
  etag: string;
  bytes: number;
  /**
   * When the photo landed: a newer photo of the same product that the worker has already received
   * supersedes it. Null for a re-enhancement, which works on the product's latest photo by definition.
   */
  landedAt: Date | null;
}

/** What starting (or re-starting) an enhancement sequence for one uploaded object found. */
export type SequenceClaim =
  | { kind: "started"; sequence: number }
  /** This object's sequence was started by an earlier delivery that did not finish: carry on with it. */
  | { kind: "resumed"; sequence: number }
  /** This exact object was already processed to the end: a duplicate delivery. */
  | { kind: "finished"; sequence: number }
  /** Another photo of this product is being processed; try again later. */
  | { kind: "busy" }
  /** A newer photo of this product has landed and been received: this one is recorded and never processed. */
  | { kind: "superseded"; newerKey: string }
  /** The product no longer takes uploads (e.g. approved). */
  | { kind: "refused"; status: ProductStatus }
  | { kind: "unknown-product" };

/** One output of a sequence, recorded in `product_images` and `enhancement_history`. */
export interface VariantRecord {
  variant: string;
  mode: string;
  key: string;
  url: string;
  format: string;
  width: number;
  height: number;
  bytes: number;
  processingMs: number;
  qualityMetadata: Record<string, unknown>;
  sizeMetadata: Record<string, unknown>;
}

/** A variant the mode declined to make (e.g. background removal on a busy background), and why. */
export interface SkippedVariantRecord {
  variant: string;
  mode: string;
  reason: string;
  operations: unknown[];
}

/** The engine's findings about an original: stored on it, and used to find its duplicates. */
export interface OriginalRecord {
  width: number;
  height: number;
  analysis: Record<string, unknown>;
  pHash: string;
  dHash: string;
  /** pHash split into indexed bands (see `schema/002_analysis_and_duplicates.sql`). */
  bands: number[];
}

export interface DuplicateCandidate {
  originalId: number;
  productId: string;
  pHash: string;
  dHash: string;
}

export interface DuplicateMatch {
  originalId: number;
  productId: string;
  pHashDistance: number;
  dHashDistance: number;
}

export interface DuplicateView {
  productId: string;
  sellerId: string;
  sku: string;
  title: string;
  status: string;
  pHashDistance: number;
  dHashDistance: number;
  /** The other product's original that this one's matches. */
  originalKey: string;
  detectedAt: Date;
}

export interface LatestOriginal {
  key: string;
  bucket: string;
  uploadId: string;
  bytes: number;
  sequence: number;
  width: number | null;
  height: number | null;
  analysis: unknown;
  /** Gemini's analysis of the photo, when it made one. */
  aiAnalysis: unknown;
}

/** Where the AI step of one sequence stands: what it works on, and what earlier deliveries already did. */
export interface AiStepState {
  /** The product's status and newest sequence: the AI step adds to the newest sequence only. */
  status: ProductStatus;
  lastSequence: number;
  /** The photo of the sequence. */
  original: { bucket: string; key: string } | undefined;
  /** AI variants of the sequence already stored or already failed for good: not asked for again. */
  settledVariants: string[];
  /** Whether the analysis already succeeded or failed for good. */
  analysisSettled: boolean;
}

/** One AI call's result, as recorded: an AI variant, the analysis, or why either failed. */
export type AiRecord =
  | {
      kind: "variant";
      image: VariantRecord & { needsAttention: boolean; guardrail: Record<string, unknown> };
      promptId: string;
      call: AiCallRecord;
    }
  | { kind: "analysis"; analysis: Record<string, unknown>; call: AiCallRecord }
  | {
      kind: "failed";
      /** The AI variant it was for, or null for the analysis. */
      variant: string | null;
      failure: AiFailureKind | "unusable";
      reason: string;
      call: AiCallRecord | null;
    };

export interface SequenceCompletion {
  source: SourceDetails;
  variants: VariantRecord[];
  skipped: SkippedVariantRecord[];
  original?: OriginalRecord | undefined;
  duplicates?: DuplicateMatch[] | undefined;
}

export interface SourceDetails {
  key: string;
  url: string | null;
  bytes: number;
  width: number;
  height: number;
}

export interface HistoryEntry {
  id: number;
  sequence: number | null;
  event: string;
  fromStatus: string | null;
  toStatus: string | null;
  mode: string | null;
  variant: string | null;
  sourceKey: string | null;
  outputKey: string | null;
  outputUrl: string | null;
  sourceBytes: number | null;
  outputBytes: number | null;
  outputWidth: number | null;
  outputHeight: number | null;
  qualityMetadata: unknown;
  sizeMetadata: unknown;
  processingMs: number | null;
  status: string;
  error: string | null;
  /** Who did it: the reviewer of a decision. */
  actor: string | null;
  /** Why: a rejection's reason. */
  reason: string | null;
  /** An AI call's model (as it answered), response id and tokens. */
  modelVersion: string | null;
  responseId: string | null;
  tokenUsage: unknown;
  /** What an AI call answered or measured: the analysis, an AI variant's guardrail figures. */
  details: unknown;
  createdAt: Date;
}

export interface HistoryPage {
  limit: number;
  order: "oldest" | "newest";
  /** The id of the last entry of the previous page. */
  afterId?: number | undefined;
}

/** History ids from `from` to `to`, both included. */
export interface IdRange {
  from: number;
  to: number;
}

/**
 * One history row of the changes feed. A row of a product outside the reader's scope names no product: of
 * another seller's product only the row's id is told, so the feed can move past it.
 */
export interface ChangeRow {
  id: number;
  productId: string | null;
  event: string;
  variant: string | null;
  toStatus: string | null;
  createdAt: Date;
}

export interface ChangeScanQuery {
  /**
   * Read the rows with an id above `afterId` or inside one of `gaps`, oldest first, at most `limit`; absent:
   * read none, only the newest ids.
   */
  after?: { afterId: number; gaps: IdRange[]; limit: number } | undefined;
  /** Only this seller's products are named; absent: every product is. */
  sellerId?: string | undefined;
  /** The current state of the first this many products the rows name, in the rows' order. */
  productLimit: number;
  /** How many of the whole history's newest ids to answer. */
  newest: number;
}

export interface ChangeScan {
  rows: ChangeRow[];
  products: Map<string, Product>;
  /** The newest ids of the whole history, newest first (empty when it has none). */
  newestIds: number[];
}

/** An upload whose notification the worker has not received (yet, or ever). */
export interface UnreceivedUpload {
  uploadId: string;
  productId: string;
  key: string;
  issuedAt: Date;
}

/** How a list is ordered: newest or oldest created first, or the review queue (`waiting`). */
export type ProductSort = "newest" | "oldest" | "waiting";

/** Where the previous page of a list ended, in its sort's terms. */
export type ListPosition =
  | { sort: "newest" | "oldest"; time: Date; id: string }
  /** `group` 0: products waiting for review, 1: the rest; `time`: when each entered its status. */
  | { sort: "waiting"; group: 0 | 1; time: Date; id: string };

export interface ProductListQuery {
  status?: ProductStatus | undefined;
  category?: string | undefined;
  sellerId?: string | undefined;
  /** Text found in the sku or the title, matched literally. */
  search?: string | undefined;
  sort: ProductSort;
  limit: number;
  after?: ListPosition | undefined;
}

/** A review decision, as the API takes it. */
export type ReviewDecision =
  | { decision: "approve"; mainImage: string }
  | { decision: "reject"; reason: string };

export type ReviewOutcome =
  | { kind: "decided"; product: Product }
  /** Decided already (by another reviewer, or never reviewable): nothing changed. */
  | { kind: "not-pending"; product: Product }
  /** The main image names no variant of the product's current photo. */
  | { kind: "unknown-variant"; product: Product; variants: string[] }
  | { kind: "not-found" };

export interface ProductRepository {
  /** All or nothing; a sku the seller already has comes back as that product with `created: false`. */
  createProducts(
    sellerId: string,
    products: NewProduct[],
    now: Date,
  ): Promise<{ product: Product; created: boolean }[]>;
  findProduct(id: string): Promise<Product | undefined>;
  /** Filtered and sorted, `limit` at most, after `after` (the last product of the previous page). */
  listProducts(query: ProductListQuery): Promise<Product[]>;
  /** Applies a review decision to a product in `pending_review`, atomically: of two at once, one wins. */
  decideReview(input: {
    productId: string;
    decision: ReviewDecision;
    actor: string;
    now: Date;
  }): Promise<ReviewOutcome>;
  /** The `thumb` image of each product's newest sequence, by product id. */
  thumbnails(productIds: string[]): Promise<Map<string, string>>;
  /** The images of the newest sequence that produced any. */
  currentImages(productId: string): Promise<ProductImage[]>;
  /** One page of the product's history, at most `limit` entries. */
  history(productId: string, page: HistoryPage): Promise<HistoryEntry[]>;
  /** The changes feed's one read: history rows after a point, scoped, with the products they name. */
  changesSince(query: ChangeScanQuery): Promise<ChangeScan>;
  recordUploads(uploads: UploadRecord[], now: Date): Promise<void>;
  findUploadByKey(key: string): Promise<UploadRecord | undefined>;
  claimSequence(productId: string, uploadId: string, source: SourceObject, now: Date): Promise<SequenceClaim>;
  completeSequence(
    productId: string,
    sequence: number,
    completion: SequenceCompletion,
    now: Date,
  ): Promise<void>;
  /**
   * The latest originals of other products sharing at least one pHash band (older originals lose their
   * bands): the only rows a duplicate can be among. At most `limit`, newest first.
   */
  findDuplicateCandidates(productId: string, bands: number[], limit: number): Promise<DuplicateCandidate[]>;
  /** The product's near-duplicates, closest first, at most `limit`. */
  duplicatesOf(productId: string, limit: number): Promise<DuplicateView[]>;
  /** Sequences still `processing` whose claim is older than `claimedBefore`, oldest first, at most `limit`. */
  findStuckSequences(
    claimedBefore: Date,
    limit: number,
  ): Promise<{ productId: string; sequence: number; key: string }[]>;
  /**
   * Uploads issued in the window whose notification the worker has never received, of products that
   * still take photos, oldest first, at most `limit`, after `after` (the last of the previous page).
   */
  findUnreceivedUploads(query: {
    issuedAfter: Date;
    issuedBefore: Date;
    /** Uploads re-queued since then have a message in the queue already: they are left out. */
    requeuedBefore: Date;
    limit: number;
    after?: { issuedAt: Date; uploadId: string } | undefined;
  }): Promise<UnreceivedUpload[]>;
  /** How many uploads re-queued since then the worker has not received yet: their messages are in the queue. */
  countRequeuedUnreceived(since: Date): Promise<number>;
  /** Marks an upload re-queued now, with a history row that says why. */
  recordRequeue(upload: UnreceivedUpload, reason: string, now: Date): Promise<void>;
  /** Takes the named lease until `until` if nobody holds it (or their lease ran out). */
  acquireLease(name: string, holder: string, until: Date, now: Date): Promise<boolean>;
  releaseLease(name: string, holder: string): Promise<void>;
  /** The product's latest photo that finished processing (not a re-enhancement of it), for analysis and re-enhancement. */
  latestOriginal(productId: string): Promise<LatestOriginal | undefined>;
  failSequence(productId: string, sequence: number, reason: string, now: Date): Promise<void>;
  /** A history row for an upload that did not start a sequence, so the refusal is visible. */
  recordRefusedUpload(productId: string, sourceKey: string, reason: string, now: Date): Promise<void>;
  ping(): Promise<void>;
  aiStepState(productId: string, sequence: number): Promise<AiStepState | undefined>;
  /** Takes the sequence's AI step until `until` unless another delivery holds it; false if one does. */
  claimAiStep(productId: string, sequence: number, until: Date, now: Date): Promise<boolean>;
  releaseAiStep(productId: string, sequence: number): Promise<void>;
  /** Stores one AI result of the sequence: its image row or analysis, and its history row, together. */
  recordAi(productId: string, sequence: number, record: AiRecord, now: Date): Promise<void>;
  /** A history row saying why the sequence got no AI step. */
  recordAiSkipped(productId: string, sequence: number, reason: string, now: Date): Promise<void>;
}

export interface ObjectHead {
  bytes: number;
  etag: string;
  contentType: string | undefined;
  lastModified: Date | undefined;
}

export interface PresignedPost {
  url: string;
  fields: Record<string, string>;
}

export interface ObjectStore {
  presignPost(input: {
    bucket: string;
    key: string;
    contentType: string;
    maxBytes: number;
    expiresInSeconds: number;
  }): Promise<PresignedPost>;
  /**
   * A URL a browser can GET the object with until `signedAt` + `expiresInSeconds`, signed as of `signedAt` (a
   * time rounded down keeps the URL the same for a while, so the browser's cache serves it again).
   */
  presignGet(input: {
    bucket: string;
    key: string;
    expiresInSeconds: number;
    signedAt: Date;
  }): Promise<string>;
  head(bucket: string, key: string): Promise<ObjectHead | undefined>;
  /** The object's bytes, or undefined when it no longer exists. */
  get(bucket: string, key: string): Promise<Uint8Array | undefined>;
  put(bucket: string, key: string, body: Uint8Array, contentType: string): Promise<void>;
  ping(bucket: string): Promise<void>;
}

export interface QueueDepth {
  /** Messages waiting to be received. */
  visible: number;
  /** Messages received and not yet deleted (being processed, or waiting out a visibility timeout). */
  inFlight: number;
  /** Messages sent with a delay that has not passed yet. */
  delayed: number;
}

/** Re-sends count how often a message has waited its turn (SQS's receive count restarts with each copy). */
export interface SendOptions {
  delaySeconds?: number;
  deferrals?: number;
}

/** The enhance queue: reachable, where re-enhancement requests and re-queued photos go, and how deep it is. */
export interface EnhanceQueue {
  ping(): Promise<void>;
  send(message: Record<string, unknown>, options?: SendOptions): Promise<void>;
  /** The queue's own approximate counts (`ApproximateNumberOfMessages…`). */
  depth(): Promise<QueueDepth>;
  /** Makes received messages visible again at once, instead of after their visibility timeout. */
  release(receiptHandles: string[]): Promise<void>;
}

export type Clock = () => Date;

/** The slice of a structured logger the domain uses; Powertools' Logger satisfies it. */
export interface Log {
  info(message: string, ...extra: Record<string, unknown>[]): void;
  warn(message: string, ...extra: Record<string, unknown>[]): void;
  error(message: string, ...extra: Record<string, unknown>[]): void;
}

/** An image handed to or received from the AI editor. */
export interface AiImage {
  bytes: Uint8Array;
  mimeType: string;
}

/** Tokens one call used, as the Gemini API reports them (`usageMetadata`). */
export interface AiUsage {
  promptTokens: number;
  /** Tokens of the answer, images included. */
  outputTokens: number;
  /** Tokens spent thinking, billed as output. */
  thoughtTokens: number;
  totalTokens: number;
}

/** What one logical call cost, whether it succeeded or not: recorded on its history row. */
export interface AiCallRecord {
  /** The model asked (configuration). */
  model: string;
  /** The model that answered (`modelVersion`), when an answer came. */
  modelVersion: string | null;
  responseId: string | null;
  usage: AiUsage | null;
  /** From the first request to the last answer, retries and back-off included. */
  latencyMs: number;
  /** HTTP requests made: 1 plus the retries. */
  attempts: number;
}

/**
 * Why an AI call gave nothing usable. Only `unavailable` and `timeout` were worth retrying, and the adapter
 * retried them within the deadline before saying so; the rest are final on the first answer.
 */
export type AiFailureKind =
  /** 429, 5xx or a refused connection, still so when the deadline came. */
  | "unavailable"
  /** No answer within the per-call timeout or the photo's AI budget. */
  | "timeout"
  /** 400, 403 or 404: the request, the key or the model is wrong. */
  | "rejected"
  /** A safety block: `promptFeedback.blockReason`, or a finish reason such as SAFETY or IMAGE_SAFETY. */
  | "blocked"
  /** The answer held no image (text only, or the finish reason NO_IMAGE). */
  | "no-image"
  /** The answer was not what was asked for: JSON that does not parse, bytes that are not an image. */
  | "invalid";

export type AiOutcome<T> =
  | { ok: true; value: T; call: AiCallRecord }
  | { ok: false; kind: AiFailureKind; reason: string; call: AiCallRecord };

/**
 * The AI model behind the photo's analysis and its AI-edited variants (Gemini). Every call ends by `deadline`,
 * whatever the network does, and answers an outcome instead of throwing for anything Gemini says.
 */
export interface AiEditor {
  readonly models: { analysis: string; image: string };
  /** One structured answer about the image: JSON conforming to `jsonSchema` (validated by the caller). */
  analyse(
    image: AiImage,
    request: { prompt: string; jsonSchema: Record<string, unknown>; deadline: Date },
  ): Promise<AiOutcome<unknown>>;
  /** One edited image of the same product; the first non-thought image part of the answer. */
  edit(image: AiImage, request: { prompt: string; deadline: Date }): Promise<AiOutcome<AiImage>>;
  /** Whether the Gemini API answers at all, spending no tokens: a model lookup. */
  ping(deadline: Date): Promise<"reachable" | "unreachable">;
}

/** Whether Gemini is set up and answers, learned without reading the key or spending a token. */
export interface AiStatus {
  check(timeoutMs: number): Promise<"not_configured" | "reachable" | "unreachable">;
}
