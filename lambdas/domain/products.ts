import { randomUUID } from "node:crypto";
import { z } from "zod";
import { type VariantSpec, variantSpecSchema } from "../engine/variant-spec.ts";
import { AppError, notFound, originalMissingReason } from "./errors.ts";
import { rawKey } from "./object-keys.ts";
import type {
  Clock,
  DuplicateView,
  EnhanceQueue,
  ObjectStore,
  ProductImage,
  ProductRepository,
  UploadRecord,
} from "./ports.ts";
import { type Product, type ProductJson, productJson } from "./product.ts";
import type { NewProduct } from "./product-input.ts";
import { acceptsUploads, canTransition, PRODUCT_STATUSES } from "./product-status.ts";
import { extensionFor, type UploadContentType } from "./upload-types.ts";

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
  repository: ProductRepository;
  objectStore: ObjectStore;
  queue: EnhanceQueue;
  settings: ApiSettings;
  clock: Clock;
}

/** A presigned POST: the browser sends `fields` plus the file (last) as multipart/form-data to `url`. */
export interface UploadTicket {
  url: string;
  fields: Record<string, string>;
  key: string;
  expiresAt: string;
  maxBytes: number;
}

export interface ProductSummary {
  id: string;
  sku: string;
  status: Product["status"];
  statusReason: string | null;
  created: boolean;
  upload: UploadTicket | null;
}

export interface ImageView {
  variant: string;
  url: string;
  format: string;
  width: number;
  height: number;
  bytes: number;
  sequence: number;
}

/** What the engine measured on the current original, for a reviewer. */
export interface AnalysisView {
  width: number | null;
  height: number | null;
  quality: unknown;
  compliance: unknown;
}

/** A duplicate as the API shows it: the stored view, with its time as ISO text and no storage key. */
export type DuplicateEntry = Omit<DuplicateView, "originalKey" | "detectedAt"> & { detectedAt: string };

export interface ProductView extends ProductJson {
  images: ImageView[];
  analysis: AnalysisView | null;
  duplicates: DuplicateEntry[];
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
 * Creates the products that are new, returns the ones whose sku is known, and hands each product that
 * still takes photos a presigned POST for its declared content type.
 */
export const createProducts = async (deps: ApiDeps, products: NewProduct[]): Promise<ProductSummary[]> => {
  const now = deps.clock();
  const results = await deps.repository.createProducts(products, now);
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

export const createUpload = async (
  deps: ApiDeps,
  productId: string,
  contentType: UploadContentType,
): Promise<UploadTicket> => {
  const product = await deps.repository.findProduct(productId);
  if (!product) throw notFound("product", productId);
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
});

export const getProduct = async (deps: ApiDeps, productId: string): Promise<ProductView> => {
  const product = await deps.repository.findProduct(productId);
  if (!product) throw notFound("product", productId);
  const [images, original, duplicates] = await Promise.all([
    deps.repository.currentImages(productId),
    deps.repository.latestOriginal(productId),
    listDuplicates(deps, productId),
  ]);
  const analysis = original?.analysis as { quality?: unknown; compliance?: unknown } | null | undefined;
  return {
    ...productJson(product),
    images: images.map((image) => imageView(deps.settings, image)),
    analysis: original
      ? {
          width: original.width,
          height: original.height,
          quality: analysis?.quality ?? null,
          compliance: analysis?.compliance ?? null,
        }
      : null,
    duplicates,
  };
};

/** A product shows at most this many near-duplicates, the closest first. */
export const DUPLICATES_SHOWN = 100;

const listDuplicates = async (deps: ApiDeps, productId: string): Promise<DuplicateEntry[]> =>
  (await deps.repository.duplicatesOf(productId, DUPLICATES_SHOWN)).map((duplicate) => ({
    productId: duplicate.productId,
    sku: duplicate.sku,
    title: duplicate.title,
    status: duplicate.status,
    pHashDistance: duplicate.pHashDistance,
    dHashDistance: duplicate.dHashDistance,
    detectedAt: duplicate.detectedAt.toISOString(),
  }));

/** The products whose photos this product's photos nearly duplicate (same shot re-encoded, resized, …). */
export const getDuplicates = async (
  deps: ApiDeps,
  productId: string,
): Promise<{ duplicates: DuplicateEntry[] }> => {
  if (!(await deps.repository.findProduct(productId))) throw notFound("product", productId);
  return { duplicates: await listDuplicates(deps, productId) };
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
  productId: string,
  request: z.output<typeof reenhanceRequestSchema>,
): Promise<ReenhanceAccepted> => {
  const product = await deps.repository.findProduct(productId);
  if (!product) throw notFound("product", productId);
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

export type CheckResult = { status: "ok"; latencyMs: number } | { status: "unavailable"; latencyMs: number };

export interface HealthReport {
  status: "ok" | "degraded";
  checks: { database: CheckResult; objectStore: CheckResult; queue: CheckResult };
}

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

export const checkHealth = async (deps: ApiDeps): Promise<HealthReport> => {
  const [database, objectStore, queue] = await Promise.all([
    timed(() => deps.repository.ping()),
    timed(async () => {
      await deps.objectStore.ping(deps.settings.rawBucket);
      await deps.objectStore.ping(deps.settings.enhancedBucket);
    }),
    timed(() => deps.queue.ping()),
  ]);
  const checks = { database, objectStore, queue };
  const healthy = Object.values(checks).every((check) => check.status === "ok");
  return { status: healthy ? "ok" : "degraded", checks };
};

export const productListQuerySchema = z
  .object({
    status: z.enum(PRODUCT_STATUSES, { error: `must be one of ${PRODUCT_STATUSES.join(", ")}` }).optional(),
    limit: z.coerce
      .number({ error: "must be a number" })
      .int("must be a whole number")
      .min(1, "must be at least 1")
      .max(100, "must be at most 100")
      .default(20),
    cursor: z.string().max(200).optional(),
  })
  .strict();

export type ProductListItem = Pick<
  ProductJson,
  "id" | "sku" | "title" | "category" | "status" | "statusReason" | "sequence" | "createdAt" | "updatedAt"
> & { thumbnailUrl: string | null };

/** An opaque page position: the last product of the page, as base64url JSON. */
const encodeCursor = (product: Product): string =>
  Buffer.from(JSON.stringify({ createdAt: product.createdAt.toISOString(), id: product.id })).toString(
    "base64url",
  );

const decodeCursor = (cursor: string): { createdAt: Date; id: string } => {
  try {
    const { createdAt, id } = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8")) as {
      createdAt: string;
      id: string;
    };
    const date = new Date(createdAt);
    if (typeof id !== "string" || Number.isNaN(date.getTime())) throw new Error("bad cursor");
    return { createdAt: date, id };
  } catch {
    throw new AppError("VALIDATION_FAILED", "the request has 1 invalid field(s)", [
      { path: "cursor", message: "is not a cursor this API returned" },
    ]);
  }
};

/** Products newest first, optionally by status, a page at a time. */
export const listProducts = async (
  deps: ApiDeps,
  query: z.output<typeof productListQuerySchema>,
): Promise<{ products: ProductListItem[]; nextCursor: string | null }> => {
  // One more than the page tells whether there is a next page without a count query.
  const rows = await deps.repository.listProducts({
    status: query.status,
    limit: query.limit + 1,
    after: query.cursor ? decodeCursor(query.cursor) : undefined,
  });
  const page = rows.slice(0, query.limit);
  const thumbnails = await deps.repository.thumbnails(page.map((product) => product.id));
  const last = page.at(-1);
  return {
    products: page.map((product): ProductListItem => {
      const { id, sku, title, category, status, statusReason, sequence, createdAt, updatedAt } =
        productJson(product);
      const thumbnail = thumbnails.get(product.id);
      return {
        id,
        sku,
        title,
        category,
        status,
        statusReason,
        sequence,
        thumbnailUrl: thumbnail ? `${deps.settings.assetsBaseUrl}/${thumbnail}` : null,
        createdAt,
        updatedAt,
      };
    }),
    nextCursor: rows.length > query.limit && last ? encodeCursor(last) : null,
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
  productId: string,
  query: z.output<typeof historyQuerySchema>,
) => {
  if (!(await deps.repository.findProduct(productId))) throw notFound("product", productId);
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
