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
}

/** What starting (or re-starting) an enhancement sequence for one uploaded object found. */
export type SequenceClaim =
  | { kind: "started" | "resumed"; sequence: number }
  /** This exact object was already processed to the end: a duplicate delivery. */
  | { kind: "finished"; sequence: number }
  /** Another photo of this product is being processed; try again later. */
  | { kind: "busy" }
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
}

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
  createdAt: Date;
}

export interface ProductListQuery {
  status?: ProductStatus | undefined;
  limit: number;
  after?: { createdAt: Date; id: string } | undefined;
}

export interface ProductRepository {
  /** All or nothing; a sku already stored comes back as that product with `created: false`. */
  createProducts(products: NewProduct[], now: Date): Promise<{ product: Product; created: boolean }[]>;
  findProduct(id: string): Promise<Product | undefined>;
  /** Newest first, `limit` at most, after `cursor` (the last product of the previous page). */
  listProducts(query: ProductListQuery): Promise<Product[]>;
  /** The `thumb` image of each product's newest sequence, by product id. */
  thumbnails(productIds: string[]): Promise<Map<string, string>>;
  /** The images of the newest sequence that produced any. */
  currentImages(productId: string): Promise<ProductImage[]>;
  history(productId: string): Promise<HistoryEntry[]>;
  recordUploads(uploads: UploadRecord[], now: Date): Promise<void>;
  findUploadByKey(key: string): Promise<UploadRecord | undefined>;
  claimSequence(productId: string, uploadId: string, source: SourceObject, now: Date): Promise<SequenceClaim>;
  completeSequence(
    productId: string,
    sequence: number,
    completion: SequenceCompletion,
    now: Date,
  ): Promise<void>;
  /** Originals of other products sharing at least one pHash band: the only rows a duplicate can be among. */
  findDuplicateCandidates(productId: string, bands: number[]): Promise<DuplicateCandidate[]>;
  duplicatesOf(productId: string): Promise<DuplicateView[]>;
  /** Sequences still `processing` whose claim is older than `claimedBefore`: their worker never finished. */
  findStuckSequences(claimedBefore: Date): Promise<{ productId: string; sequence: number; key: string }[]>;
  /**
   * Uploads issued in the window that no sequence has claimed, for products that still take photos:
   * the photo either never arrived or its ObjectCreated notification was lost.
   */
  findUnclaimedUploads(issuedAfter: Date, issuedBefore: Date): Promise<{ productId: string; key: string }[]>;
  /** The newest original that finished processing, for analysis and re-enhancement. */
  latestOriginal(productId: string): Promise<LatestOriginal | undefined>;
  failSequence(productId: string, sequence: number, reason: string, now: Date): Promise<void>;
  /** A history row for an upload that did not start a sequence, so the refusal is visible. */
  recordRefusedUpload(productId: string, sourceKey: string, reason: string, now: Date): Promise<void>;
  ping(): Promise<void>;
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
  head(bucket: string, key: string): Promise<ObjectHead | undefined>;
  get(bucket: string, key: string): Promise<Uint8Array>;
  put(bucket: string, key: string, body: Uint8Array, contentType: string): Promise<void>;
  ping(bucket: string): Promise<void>;
}

/** The enhance queue as the API sees it: reachable, and where re-enhancement requests go. */
export interface EnhanceQueue {
  ping(): Promise<void>;
  send(message: Record<string, unknown>): Promise<void>;
}

export type Clock = () => Date;

/** The slice of a structured logger the domain uses; Powertools' Logger satisfies it. */
export interface Log {
  info(message: string, ...extra: Record<string, unknown>[]): void;
  warn(message: string, ...extra: Record<string, unknown>[]): void;
  error(message: string, ...extra: Record<string, unknown>[]): void;
}
