import { randomUUID } from "node:crypto";
import { z } from "zod";
import type { TokenVerifier } from "../adapters/token-verifier.ts";
import { type VariantSpec, variantSpecSchema } from "../engine/variant-spec.ts";
import { type Caller, canRead, isReviewer, requireRole } from "./caller.ts";
import { AppError, notFound, originalMissingReason } from "./errors.ts";
import { rawKey } from "./object-keys.ts";
import { originalView } from "./original.ts";
import type {
  AiStatus,
  Clock,
  EnhanceQueue,
  ListPosition,
  ObjectStore,
  ProductImage,
  ProductRepository,
  UploadRecord,
} from "./ports.ts";
import { type Product, productJson } from "./product.ts";
import type { NewProduct } from "./product-input.ts";
import { acceptsUploads, canTransition, PRODUCT_STATUSES } from "./product-status.ts";
import type { ChangePublisher } from "./push.ts";
import { extensionFor, type UploadContentType } from "./upload-types.ts";
import type {
  AnalysisView,
  DuplicateEntry,
  HealthReport,
  ImageView,
  ProductListItem,
  ProductSummary,
  ProductView,
  UploadTicket,
} from "./views.ts";

export interface ApiSettings {
  rawBucket: string;
  /** How long raw originals are kept (the raw bucket's lifecycle), for the reason a re-enhancement is refused. */
  rawRetentionDays: number;
  enhancedBucket: string;
  maxUploadBytes: number;
  uploadUrlTtlSeconds: number;
  assetsBaseUrl: string;
}

export interface ApiDeps {
  /** Checks each request's bearer token (Cognito's in AWS, the local stack's own locally). */
  tokens: TokenVerifier;
  /** Gemini's state for `/health`; absent: not configured. */
  aiStatus?: AiStatus | undefined;
  repository: ProductRepository;
  objectStore: ObjectStore;
  queue: EnhanceQueue;
  settings: ApiSettings;
  clock: Clock;
  /** Tells open dashboards of a review decision; absent: they learn it from the changes feed. */
  push?: ChangePublisher | undefined;
}

const planUpload = (deps: ApiDeps, productId: string, contentType: UploadContentType): UploadRecord => {
  const id = randomUUID();
  return {
    id,
    productId,
    key: rawKey({ productId, uploadId: id, extension: extensionFor(contentType) }),
    contentType,
    maxBytes: deps.settings.maxUploadBytes,
    expiresAt: new Date(deps.clock().getTime() + deps.settings.uploadUrlTtlSeconds * 1000),
  };
};

const presign = async (deps: ApiDeps, upload: UploadRecord): Promise<UploadTicket> => {
  const { url, fields } = await deps.objectStore.presignPost({
    bucket: deps.settings.rawBucket,
    key: upload.key,
    contentType: upload.contentType,
    maxBytes: upload.maxBytes,
    expiresInSeconds: deps.settings.uploadUrlTtlSeconds,
  });
  return {
    url,
    fields,
    key: upload.key,
    expiresAt: upload.expiresAt.toISOString(),
    maxBytes: upload.maxBytes,
  };
};

/**
 * Creates the seller's products that are new, returns the ones whose sku the seller already has, and hands
 * each product that still takes photos a presigned POST for its declared content type.
 */
export const createProducts = async (
  deps: ApiDeps,
  caller: Caller,
  products: NewProduct[],
): Promise<ProductSummary[]> => {
  requireRole(caller, "seller", "create products");
  const now = deps.clock();
  const results = await deps.repository.createProducts(caller.id, products, now);
  const uploads = results.map(({ product }, index) =>
    acceptsUploads(product.status)
      ? planUpload(deps, product.id, (products[index] as NewProduct).contentType)
      : null,
  );
  await deps.repository.recordUploads(
    uploads.filter((upload): upload is UploadRecord => upload !== null),
    now,
  );
  return Promise.all(
    results.map(async ({ product, created }, index) => {
      const upload = uploads[index];
      return {
        id: product.id,
        sku: product.sku,
        status: product.status,
        statusReason: product.statusReason,
        created,
        upload: upload ? await presign(deps, upload) : null,
      };
    }),
  );
};

/**
 * The product if this caller may read it. Another seller's product does not exist for a seller: the answer
 * is the same 404 as for an id nobody has, so a product's existence is never revealed.
 */
const readableProduct = async (deps: ApiDeps, caller: Caller, productId: string): Promise<Product> => {
  const product = await deps.repository.findProduct(productId);
  if (!product || !canRead(caller, product)) throw notFound("product", productId);
  return product;
};

/** The product if this caller is its seller: only the seller adds photos or asks for new variants. */
const ownProduct = async (deps: ApiDeps, caller: Caller, productId: string, action: string) => {
  const product = await readableProduct(deps, caller, productId);
  if (product.sellerId !== caller.id) {
    throw new AppError("FORBIDDEN", `only the product's seller may ${action}`);
  }
  return product;
};

export const createUpload = async (
  deps: ApiDeps,
  caller: Caller,
  productId: string,
  contentType: UploadContentType,
): Promise<UploadTicket> => {
  const product = await ownProduct(deps, caller, productId, "upload its photos");
  if (!acceptsUploads(product.status)) {
    throw new AppError("CONFLICT", `product ${productId} is ${product.status} and takes no new photos`);
  }
  const upload = planUpload(deps, productId, contentType);
  await deps.repository.recordUploads([upload], deps.clock());
  return presign(deps, upload);
};

const imageView = (settings: ApiSettings, image: ProductImage): ImageView => ({
  variant: image.variant,
  url: `${settings.assetsBaseUrl}/${image.key}`,
  format: image.format,
  width: image.width,
  height: image.height,
  bytes: image.bytes,
  sequence: image.sequence,
  aiGenerated: image.aiGenerated,
  needsAttention: image.needsAttention,
  guardrail: (image.guardrail ?? null) as ImageView["guardrail"],
});

export const getProduct = async (deps: ApiDeps, caller: Caller, productId: string): Promise<ProductView> => {
  const product = await readableProduct(deps, caller, productId);
  const [images, original, duplicates] = await Promise.all([
    deps.repository.currentImages(productId),
    deps.repository.latestOriginal(productId),
    listDuplicates(deps, caller, productId),
  ]);
  const analysis = original?.analysis as { quality?: unknown; compliance?: unknown } | null | undefined;
  return {
    ...productJson(product),
    images: images.map((image) => imageView(deps.settings, image)),
    original: await originalView(deps.objectStore, original, deps.clock()),
    analysis: original
      ? {
          width: original.width,
          height: original.height,
          quality: analysis?.quality ?? null,
          compliance: analysis?.compliance ?? null,
          // Stored as validated when it came back (domain/ai-step.ts).
          ai: (original.aiAnalysis ?? null) as AnalysisView["ai"],
        }
      : null,
    duplicates,
  };
};

/** A product shows at most this many near-duplicates, the closest first. */
export const DUPLICATES_SHOWN = 100;

/**
 * A seller learns that a near-duplicate exists in the catalogue, and how close it is, but not whose product
 * it is: only reviewers see other sellers' products.
 */
const listDuplicates = async (deps: ApiDeps, caller: Caller, productId: string): Promise<DuplicateEntry[]> =>
  (await deps.repository.duplicatesOf(productId, DUPLICATES_SHOWN)).map((duplicate) => ({
    product: canRead(caller, duplicate)
      ? {
          id: duplicate.productId,
          sellerId: duplicate.sellerId,
          sku: duplicate.sku,
          title: duplicate.title,
          status: duplicate.status as Product["status"],
        }
      : null,
    pHashDistance: duplicate.pHashDistance,
    dHashDistance: duplicate.dHashDistance,
    detectedAt: duplicate.detectedAt.toISOString(),
  }));

/** The products whose photos this product's photos nearly duplicate (same shot re-encoded, resized, …). */
export const getDuplicates = async (
  deps: ApiDeps,
  caller: Caller,
  productId: string,
): Promise<{ duplicates: DuplicateEntry[] }> => {
  await readableProduct(deps, caller, productId);
  return { duplicates: await listDuplicates(deps, caller, productId) };
};

export const reenhanceRequestSchema = variantSpecSchema.omit({ name: true }).extend({
  /** Names the variant in the new sequence (default: the mode in lower case). */
  name: variantSpecSchema.shape.name.optional(),
});

export interface ReenhanceAccepted {
  requestId: string;
  productId: string;
  variant: VariantSpec;
}

/**
 * Queues a re-enhancement of the latest original with a chosen mode, profile, format and target size;
 * the worker runs it as a new sequence and the product goes through `processing` again.
 */
export const requestReenhancement = async (
  deps: ApiDeps,
  caller: Caller,
  productId: string,
  request: z.output<typeof reenhanceRequestSchema>,
): Promise<ReenhanceAccepted> => {
  const product = await ownProduct(deps, caller, productId, "ask for new variants");
  if (!canTransition(product.status, "processing")) {
    throw new AppError(
      "CONFLICT",
      `product ${productId} is ${product.status}: only a product in pending_review, rejected or failed can be re-enhanced`,
    );
  }
  const original = await deps.repository.latestOriginal(productId);
  if (!original) {
    throw new AppError(
      "CONFLICT",
      `product ${productId} has no processed photo to re-enhance; upload one first`,
    );
  }
  // Raw originals expire: say so now rather than queue work that can only fail.
  if (!(await deps.objectStore.head(original.bucket, original.key))) {
    throw new AppError(
      "CONFLICT",
      `product ${productId} cannot be re-enhanced: ${originalMissingReason(deps.settings.rawRetentionDays)}`,
    );
  }
  const variant: VariantSpec = {
    ...request,
    name: request.name ?? request.mode.toLowerCase().replace(/_/g, "-"),
  };
  const accepted = { requestId: randomUUID(), productId, variant };
  await deps.queue.send({ type: "reenhance", ...accepted });
  return accepted;
};

type CheckResult = HealthReport["checks"]["database"];

/** A dependency that has not answered by then counts as unavailable: a health check must not hang. */
export const HEALTH_PROBE_TIMEOUT_MS = 3000;

const timed = async (probe: () => Promise<void>): Promise<CheckResult> => {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      probe(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error("timed out")), HEALTH_PROBE_TIMEOUT_MS);
      }),
    ]);
    return { status: "ok", latencyMs: Math.round(performance.now() - started) };
  } catch {
    return { status: "unavailable", latencyMs: Math.round(performance.now() - started) };
  } finally {
    clearTimeout(timer);
  }
};

/**
 * Gemini is reported beside the rest, but does not make the service degraded: without it every photo still
 * gets its sharp variants and reaches review.
 */
const checkGemini = async (deps: ApiDeps): Promise<HealthReport["checks"]["gemini"]> => {
  if (!deps.aiStatus) return { status: "not_configured" };
  const started = performance.now();
  const state = await deps.aiStatus.check(HEALTH_PROBE_TIMEOUT_MS).catch(() => "unreachable" as const);
  const latencyMs = Math.round(performance.now() - started);
  if (state === "not_configured") return { status: "not_configured" };
  return { status: state === "reachable" ? "ok" : "unavailable", latencyMs };
};

export const checkHealth = async (deps: ApiDeps): Promise<HealthReport> => {
  const [database, objectStore, queue, gemini] = await Promise.all([
    timed(() => deps.repository.ping()),
    timed(async () => {
      await deps.objectStore.ping(deps.settings.rawBucket);
      await deps.objectStore.ping(deps.settings.enhancedBucket);
    }),
    timed(() => deps.queue.ping()),
    checkGemini(deps),
  ]);
  const core = { database, objectStore, queue };
  const healthy = Object.values(core).every((check) => check.status === "ok");
  return { status: healthy ? "ok" : "degraded", checks: { ...core, gemini } };
};

const PRODUCT_SORTS = ["newest", "oldest", "waiting"] as const;

export const productListQuerySchema = z
  .object({
    status: z.enum(PRODUCT_STATUSES, { error: `must be one of ${PRODUCT_STATUSES.join(", ")}` }).optional(),
    category: z
      .string()
      .trim()
      .min(1, "must not be empty")
      .max(100, "must be at most 100 characters")
      .optional(),
    seller: z
      .string()
      .trim()
      .min(1, "must not be empty")
      .max(128, "must be at most 128 characters")
      .optional(),
    q: z
      .string()
      .trim()
      .min(1, "must not be empty")
      .max(100, "must be at most 100 characters")
      .optional()
      .meta({ description: "text found in the sku or the title (literally: % and _ are plain characters)" }),
    sort: z
      .enum(PRODUCT_SORTS, { error: `must be one of ${PRODUCT_SORTS.join(", ")}` })
      .default("newest")
      .meta({
        description:
          "newest or oldest created first, or `waiting`: the review queue, products in pending_review first, longest waiting first",
      }),
    limit: z.coerce
      .number({ error: "must be a number" })
      .int("must be a whole number")
      .min(1, "must be at least 1")
      .max(100, "must be at most 100")
      .default(20),
    cursor: z.string().max(200, "is not a cursor this API returned").optional(),
  })
  .strict();

/** An opaque page position: where the last product of the page sits in the list's order, as base64url JSON. */
const encodeCursor = (position: ListPosition): string =>
  Buffer.from(JSON.stringify({ ...position, time: position.time.toISOString() })).toString("base64url");

const cursorSchema = z.union([
  z.object({ sort: z.enum(["newest", "oldest"]), time: z.iso.datetime(), id: z.string().max(36) }),
  z.object({
    sort: z.literal("waiting"),
    group: z.union([z.literal(0), z.literal(1)]),
    time: z.iso.datetime(),
    id: z.string().max(36),
  }),
]);

const decodeCursor = (cursor: string, sort: ListPosition["sort"]): ListPosition => {
  let parsed: z.output<typeof cursorSchema> | undefined;
  try {
    parsed = cursorSchema.parse(JSON.parse(Buffer.from(cursor, "base64url").toString("utf8")));
  } catch {}
  // A cursor of another sort would skip or repeat products: refused like any cursor this API did not return.
  if (!parsed || parsed.sort !== sort) throw invalidCursor();
  return { ...parsed, time: new Date(parsed.time) } as ListPosition;
};

const positionOf = (product: Product, sort: ListPosition["sort"]): ListPosition =>
  sort === "waiting"
    ? {
        sort,
        group: product.status === "pending_review" ? 0 : 1,
        time: product.statusChangedAt,
        id: product.id,
      }
    : { sort, time: product.createdAt, id: product.id };

/** A product as lists show it (`GET /products`, `GET /changes`): no money, its thumbnail's URL. */
export const listItem = (
  assetsBaseUrl: string,
  product: Product,
  thumbnails: Map<string, string>,
): ProductListItem => {
  const { mrp: _m, price: _p, discount: _d, gst: _g, ...listed } = productJson(product);
  const thumbnail = thumbnails.get(product.id);
  return { ...listed, thumbnailUrl: thumbnail ? `${assetsBaseUrl}/${thumbnail}` : null };
};

/**
 * Products a page at a time. A seller lists their own (a `seller` filter naming anyone else is refused);
 * a reviewer lists every seller's, and may filter by seller.
 */
export const listProducts = async (
  deps: ApiDeps,
  caller: Caller,
  query: z.output<typeof productListQuerySchema>,
): Promise<{ products: ProductListItem[]; nextCursor: string | null }> => {
  if (!isReviewer(caller) && query.seller !== undefined && query.seller !== caller.id) {
    throw new AppError("FORBIDDEN", "sellers list only their own products: leave out the seller filter");
  }
  // One more than the page tells whether there is a next page without a count query.
  const rows = await deps.repository.listProducts({
    status: query.status,
    category: query.category,
    sellerId: isReviewer(caller) ? query.seller : caller.id,
    search: query.q,
    sort: query.sort,
    limit: query.limit + 1,
    after: query.cursor ? decodeCursor(query.cursor, query.sort) : undefined,
  });
  const page = rows.slice(0, query.limit);
  const thumbnails = await deps.repository.thumbnails(page.map((product) => product.id));
  const last = page.at(-1);
  return {
    products: page.map((product) => listItem(deps.settings.assetsBaseUrl, product, thumbnails)),
    nextCursor: rows.length > query.limit && last ? encodeCursor(positionOf(last, query.sort)) : null,
  };
};

export const historyQuerySchema = z
  .object({
    order: z.enum(["oldest", "newest"], { error: "must be oldest or newest" }).default("oldest"),
    limit: z.coerce
      .number({ error: "must be a number" })
      .int("must be a whole number")
      .min(1, "must be at least 1")
      .max(100, "must be at most 100")
      .default(50),
    cursor: z.string().max(200).optional(),
  })
  .strict();

const invalidCursor = () =>
  new AppError("VALIDATION_FAILED", "the request has 1 invalid field(s)", [
    { path: "cursor", message: "is not a cursor this API returned" },
  ]);

/**
 * A product's `enhancement_history`, a page at a time (each row carries its quality and size metadata,
 * so a whole history could outgrow any one response): oldest first by default, or newest first.
 */
export const getHistory = async (
  deps: ApiDeps,
  caller: Caller,
  productId: string,
  query: z.output<typeof historyQuerySchema>,
) => {
  await readableProduct(deps, caller, productId);
  let afterId: number | undefined;
  if (query.cursor !== undefined) {
    const decoded = Number(Buffer.from(query.cursor, "base64url").toString("utf8"));
    if (!Number.isSafeInteger(decoded) || decoded < 1) throw invalidCursor();
    afterId = decoded;
  }
  // One more than the page tells whether there is a next page without a count query.
  const rows = await deps.repository.history(productId, {
    limit: query.limit + 1,
    order: query.order,
    afterId,
  });
  const page = rows.slice(0, query.limit);
  const last = page.at(-1);
  return {
    history: page.map((entry) => ({ ...entry, createdAt: entry.createdAt.toISOString() })),
    nextCursor: rows.length > query.limit && last ? Buffer.from(String(last.id)).toString("base64url") : null,
  };
};
