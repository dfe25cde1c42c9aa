import { randomUUID } from "node:crypto";
import { sql, type Transaction } from "kysely";
import { StaleVersionError } from "../domain/errors.ts";
import type {
  AiCallRecord,
  ChangeRow,
  HistoryEntry,
  IdRange,
  ProductImage,
  ProductRepository,
  ReviewOutcome,
  SequenceClaim,
  SequenceCompletion,
  SourceObject,
  UploadRecord,
} from "../domain/ports.ts";
import { type Product, type ProductRow, productFromRow, productToRow } from "../domain/product.ts";
import { type NewProduct, skuIdentity } from "../domain/product-input.ts";
import { assertTransition, canTransition, type ProductStatus } from "../domain/product-status.ts";
import { type Database, type Db, isDuplicateKeyError, readJson } from "./database.ts";

type Trx = Transaction<Database>;

const selectProduct = (db: Db | Trx, id: string) =>
  db.selectFrom("products").selectAll().where("id", "=", id).executeTakeFirst();

interface TransitionInput {
  product: Product;
  to: ProductStatus;
  reason: string | null;
  sequence: number | null;
  sourceKey?: string;
  lastSequence?: number;
  /** A review decision: who made it, and the main image an approval chose. */
  review?: { actor: string; mainImage: string | null };
  now: Date;
}

/**
 * The one way a product's status changes: the move must be allowed (DESIGN.md), the row must still be
 * at the version that was read (optimistic concurrency), and the change is written to
 * `enhancement_history` in the same transaction.
 */
export const transitionStatus = async (trx: Trx, input: TransitionInput): Promise<void> => {
  const { product, to, reason, sequence, review, now } = input;
  assertTransition(product.status, to);
  const result = await trx
    .updateTable("products")
    .set((eb) => ({
      status: to,
      status_reason: reason,
      status_changed_at: now,
      version: eb("version", "+", 1),
      updated_at: now,
      ...(input.lastSequence === undefined ? {} : { last_sequence: input.lastSequence }),
      ...(review ? { main_image: review.mainImage } : {}),
    }))
    .where("id", "=", product.id)
    .where("version", "=", product.version)
    .executeTakeFirst();
  if (result.numUpdatedRows !== 1n) throw new StaleVersionError(product.id);
  await trx
    .insertInto("enhancement_history")
    .values({
      product_id: product.id,
      sequence,
      event: review ? "reviewed" : "status_changed",
      from_status: product.status,
      to_status: to,
      variant: review?.mainImage ?? null,
      source_key: input.sourceKey ?? null,
      status: to === "failed" ? "failed" : "succeeded",
      error: to === "failed" ? reason : null,
      actor: review?.actor ?? null,
      reason: review ? reason : null,
      quality_metadata: null,
      size_metadata: null,
      created_at: now,
    })
    .execute();
};

/** The images of the product's newest sequence that produced any. */
const currentImagesOf = async (db: Db | Trx, productId: string): Promise<ProductImage[]> => {
  const rows = await db
    .selectFrom("product_images")
    .selectAll()
    .where("product_id", "=", productId)
    .where("sequence", "=", (eb) =>
      eb
        .selectFrom("product_images")
        .select((s) => s.fn.max("sequence").as("latest"))
        .where("product_id", "=", productId),
    )
    .orderBy("id")
    .execute();
  return rows.map(
    (row): ProductImage => ({
      sequence: row.sequence,
      variant: row.variant,
      key: row.object_key,
      format: row.format,
      width: row.width,
      height: row.height,
      bytes: row.bytes,
      aiGenerated: Boolean(row.ai_generated),
      needsAttention: Boolean(row.needs_attention),
      guardrail: readJson(row.guardrail) ?? null,
    }),
  );
};

/**
 * The key of a newer photo of the product that the worker has already received, if there is one: "newer"
 * by when it landed, then by when its upload was issued (two photos may land in the same millisecond).
 */
const newerReceivedUpload = async (
  trx: Trx,
  productId: string,
  uploadId: string,
): Promise<string | undefined> => {
  const mine = await trx
    .selectFrom("product_uploads")
    .select(["landed_at", "created_at"])
    .where("id", "=", uploadId)
    .executeTakeFirst();
  if (!mine?.landed_at) return undefined;
  const landedAt = mine.landed_at;
  const newer = await trx
    .selectFrom("product_uploads")
    .select("object_key")
    .where("product_id", "=", productId)
    .where("id", "<>", uploadId)
    .where("received_at", "is not", null)
    .where((eb) =>
      eb.or([
        eb("landed_at", ">", landedAt),
        eb.and([eb("landed_at", "=", landedAt), eb("created_at", ">", mine.created_at)]),
      ]),
    )
    .orderBy("landed_at", "desc")
    .limit(1)
    .executeTakeFirst();
  return newer?.object_key;
};

/**
 * The changes feed's read: history rows past the cursor and in the gaps it still waits on, oldest first, one range
 * scan of the history's primary key, each row's product found by its primary key. A seller's scope is decided
 * per row, in the select list: a row of another seller's product names no product, only its id. (As a condition
 * of the join, MariaDB took it for a lookup by seller and read the seller's whole index for every row.)
 */
export const changeRowsQuery = (
  db: Db,
  query: { afterId: number; gaps: IdRange[]; limit: number; sellerId?: string | undefined },
) => {
  const { sellerId } = query;
  return db
    .selectFrom("enhancement_history as h")
    .leftJoin("products as p", "p.id", "h.product_id")
    .select((eb) => [
      "h.id",
      sellerId === undefined
        ? eb.ref("p.id").as("product_id")
        : eb.case().when("p.seller_id", "=", sellerId).then(eb.ref("p.id")).end().as("product_id"),
      "h.event",
      "h.variant",
      "h.to_status",
      "h.created_at",
    ])
    .where((eb) =>
      eb.or([
        eb("h.id", ">", query.afterId),
        ...query.gaps.map((gap) => eb.between("h.id", gap.from, gap.to)),
      ]),
    )
    .orderBy("h.id")
    .limit(query.limit);
};

export const createProductRepository = (db: Db): ProductRepository => ({
  async createProducts(sellerId: string, products: NewProduct[], now: Date) {
    const attempt = () =>
      db.transaction().execute(async (trx) => {
        const skus = products.map((product) => product.sku);
        const existing = new Map(
          (
            await trx
              .selectFrom("products")
              .selectAll()
              .where("seller_id", "=", sellerId)
              .where("sku", "in", skus)
              .execute()
          ).map((row) => [skuIdentity(row.sku), productFromRow(row)]),
        );
        const fresh = products
          .filter((product) => !existing.has(skuIdentity(product.sku)))
          .map(
            ({ contentType: _contentType, ...fields }): Product => ({
              ...fields,
              id: randomUUID(),
              sellerId,
              status: "pending",
              statusReason: null,
              statusChangedAt: now,
              mainImage: null,
              lastSequence: 0,
              version: 1,
              createdAt: now,
              updatedAt: now,
            }),
          );
        if (fresh.length > 0) await trx.insertInto("products").values(fresh.map(productToRow)).execute();
        const created = new Map(fresh.map((product) => [skuIdentity(product.sku), product] as const));
        return products.map((product) => {
          const known = existing.get(skuIdentity(product.sku));
          if (known) return { product: known, created: false };
          return { product: created.get(skuIdentity(product.sku)) as Product, created: true };
        });
      });
    try {
      return await attempt();
    } catch (error) {
      // Two requests raced to create the same sku: the loser's transaction rolled back whole;
      // once more, it finds the winner's rows and returns them.
      if (isDuplicateKeyError(error)) return attempt();
      throw error;
    }
  },

  async findProduct(id) {
    const row = await selectProduct(db, id);
    return row ? productFromRow(row) : undefined;
  },

  async listProducts({ status, category, sellerId, search, sort, limit, after }) {
    let query = db.selectFrom("products").selectAll();
    if (status) query = query.where("status", "=", status);
    if (category) query = query.where("category", "=", category);
    if (sellerId) query = query.where("seller_id", "=", sellerId);
    if (search) {
      // The text is matched literally: LIKE's own wildcards in it are escaped (MySQL's escape is '\\').
      const pattern = `%${search.replace(/[\\%_]/g, (char) => `\\${char}`)}%`;
      query = query.where((eb) => eb.or([eb("sku", "like", pattern), eb("title", "like", pattern)]));
    }
    if (sort === "waiting") {
      // The review queue: products waiting for review first, each group longest-waiting first.
      const waiting = sql<number>`(case when status = 'pending_review' then 0 else 1 end)`;
      if (after?.sort === "waiting") {
        query = query.where((eb) =>
          eb.or([
            eb(waiting, ">", after.group),
            eb.and([
              eb(waiting, "=", after.group),
              eb.or([
                eb("status_changed_at", ">", after.time),
                eb.and([eb("status_changed_at", "=", after.time), eb("id", ">", after.id)]),
              ]),
            ]),
          ]),
        );
      }
      const rows = await query
        .orderBy(waiting)
        .orderBy("status_changed_at", "asc")
        .orderBy("id", "asc")
        .limit(limit)
        .execute();
      return rows.map(productFromRow);
    }
    const direction = sort === "oldest" ? "asc" : "desc";
    const beyond = sort === "oldest" ? ">" : "<";
    if (after && after.sort !== "waiting") {
      query = query.where((eb) =>
        eb.or([
          eb("created_at", beyond, after.time),
          eb.and([eb("created_at", "=", after.time), eb("id", beyond, after.id)]),
        ]),
      );
    }
    const rows = await query.orderBy("created_at", direction).orderBy("id", direction).limit(limit).execute();
    return rows.map(productFromRow);
  },

  async decideReview({ productId, decision, actor, now }) {
    return db.transaction().execute(async (trx): Promise<ReviewOutcome> => {
      // Locked until the decision is written: a second reviewer's decision waits, then finds it made.
      const row = await trx
        .selectFrom("products")
        .selectAll()
        .where("id", "=", productId)
        .forUpdate()
        .executeTakeFirst();
      if (!row) return { kind: "not-found" };
      const product = productFromRow(row);
      if (product.status !== "pending_review") return { kind: "not-pending", product };
      if (decision.decision === "approve") {
        const variants = (await currentImagesOf(trx, productId)).map((image) => image.variant);
        if (!variants.includes(decision.mainImage)) return { kind: "unknown-variant", product, variants };
      }
      const approved = decision.decision === "approve";
      await transitionStatus(trx, {
        product,
        to: approved ? "approved" : "rejected",
        reason: approved ? null : decision.reason,
        sequence: product.lastSequence,
        review: { actor, mainImage: approved ? decision.mainImage : null },
        now,
      });
      const updated = await selectProduct(trx, productId);
      return { kind: "decided", product: productFromRow(updated as ProductRow) };
    });
  },

  async thumbnails(productIds) {
    if (productIds.length === 0) return new Map();
    const rows = await db
      .selectFrom("product_images")
      .select(["product_id", "object_key"])
      .where("product_id", "in", productIds)
      .where("variant", "=", "thumb")
      .orderBy("sequence", "asc")
      .execute();
    // Ascending by sequence: the newest sequence's thumbnail is the one left in the map.
    return new Map(rows.map((row) => [row.product_id, row.object_key]));
  },

  async currentImages(productId) {
    return currentImagesOf(db, productId);
  },

  async history(productId, { limit, order, afterId }) {
    let query = db.selectFrom("enhancement_history").selectAll().where("product_id", "=", productId);
    if (afterId !== undefined) query = query.where("id", order === "oldest" ? ">" : "<", afterId);
    const rows = await query
      .orderBy("id", order === "oldest" ? "asc" : "desc")
      .limit(limit)
      .execute();
    return rows.map(
      (row): HistoryEntry => ({
        id: Number(row.id),
        sequence: row.sequence,
        event: row.event,
        fromStatus: row.from_status,
        toStatus: row.to_status,
        mode: row.mode,
        variant: row.variant,
        sourceKey: row.source_key,
        outputKey: row.output_key,
        outputUrl: row.output_url,
        sourceBytes: row.source_bytes === null ? null : Number(row.source_bytes),
        outputBytes: row.output_bytes === null ? null : Number(row.output_bytes),
        outputWidth: row.output_width,
        outputHeight: row.output_height,
        qualityMetadata: readJson(row.quality_metadata),
        sizeMetadata: readJson(row.size_metadata),
        processingMs: row.processing_ms,
        status: row.status,
        error: row.error,
        actor: row.actor,
        reason: row.reason,
        modelVersion: row.model_version,
        responseId: row.external_response_id,
        tokenUsage: readJson(row.token_usage) ?? null,
        details: readJson(row.details) ?? null,
        createdAt: row.created_at,
      }),
    );
  },

  async changesSince({ after, sellerId, productLimit, newest }) {
    const readRows = async (): Promise<ChangeRow[]> => {
      if (!after || after.limit < 1) return [];
      const rows = await changeRowsQuery(db, { ...after, sellerId }).execute();
      return rows.map(
        (row): ChangeRow => ({
          id: Number(row.id),
          productId: row.product_id,
          event: row.event,
          variant: row.variant,
          toStatus: row.to_status,
          createdAt: row.created_at,
        }),
      );
    };
    const [rows, newestIds] = await Promise.all([
      readRows(),
      db
        .selectFrom("enhancement_history")
        .select("id")
        .orderBy("id", "desc")
        .limit(newest)
        .execute()
        .then((found) => found.map((row) => Number(row.id))),
    ]);
    const named = new Set<string>();
    for (const row of rows) {
      if (named.size === productLimit) break;
      if (row.productId !== null) named.add(row.productId);
    }
    const products =
      named.size === 0
        ? []
        : await db
            .selectFrom("products")
            .selectAll()
            .where("id", "in", [...named])
            .execute();
    return {
      rows,
      products: new Map(products.map((row) => [row.id, productFromRow(row)])),
      newestIds,
    };
  },

  async recordUploads(uploads: UploadRecord[], now: Date) {
    if (uploads.length === 0) return;
    await db
      .insertInto("product_uploads")
      .values(
        uploads.map((upload) => ({
          id: upload.id,
          product_id: upload.productId,
          object_key: upload.key,
          content_type: upload.contentType,
          max_bytes: upload.maxBytes,
          expires_at: upload.expiresAt,
          created_at: now,
        })),
      )
      .execute();
  },

  async findUploadByKey(key) {
    const row = await db
      .selectFrom("product_uploads")
      .selectAll()
      .where("object_key", "=", key)
      .executeTakeFirst();
    if (!row) return undefined;
    return {
      id: row.id,
      productId: row.product_id,
      key: row.object_key,
      contentType: row.content_type,
      maxBytes: Number(row.max_bytes),
      expiresAt: row.expires_at,
    };
  },

  async claimSequence(
    productId: string,
    uploadId: string,
    source: SourceObject,
    now: Date,
  ): Promise<SequenceClaim> {
    return db.transaction().execute(async (trx) => {
      // Received, even if it cannot start now: the reconciler must not take a photo that is waiting its
      // turn for one whose notification was lost.
      await trx
        .updateTable("product_uploads")
        .set({
          received_at: sql<Date>`COALESCE(received_at, ${now})`,
          ...(source.landedAt ? { landed_at: sql<Date>`COALESCE(landed_at, ${source.landedAt})` } : {}),
        })
        .where("id", "=", uploadId)
        .execute();
      const original = await trx
        .selectFrom("product_originals")
        .select(["sequence", "status"])
        .where("bucket", "=", source.bucket)
        .where("object_key", "=", source.key)
        .where("etag", "=", source.etag)
        .executeTakeFirst();
      if (original) {
        return original.status === "processing"
          ? { kind: "resumed", sequence: original.sequence }
          : { kind: "finished", sequence: original.sequence };
      }
      const row = await selectProduct(trx, productId);
      if (!row) return { kind: "unknown-product" };
      const product = productFromRow(row);
      if (source.landedAt) {
        const newer = await newerReceivedUpload(trx, productId, uploadId);
        if (newer) {
          await trx
            .updateTable("product_uploads")
            .set({ superseded_at: now })
            .where("id", "=", uploadId)
            .execute();
          await trx
            .insertInto("enhancement_history")
            .values({
              product_id: productId,
              event: "upload_superseded",
              source_key: source.key,
              status: "skipped",
              error: `a newer photo (${newer}) landed after this one; only the newest photo of a product is processed`,
              quality_metadata: null,
              size_metadata: null,
              created_at: now,
            })
            .execute();
          return { kind: "superseded", newerKey: newer };
        }
      }
      if (product.status === "processing") return { kind: "busy" };
      if (!canTransition(product.status, "processing")) return { kind: "refused", status: product.status };
      const sequence = product.lastSequence + 1;
      try {
        await trx
          .insertInto("product_originals")
          .values({
            product_id: productId,
            upload_id: uploadId,
            sequence,
            bucket: source.bucket,
            object_key: source.key,
            etag: source.etag,
            bytes: source.bytes,
            status: "processing",
            created_at: now,
            updated_at: now,
          })
          .execute();
      } catch (error) {
        // A duplicate delivery of this object claimed it a moment ago: retry, and find its claim.
        if (isDuplicateKeyError(error)) throw new StaleVersionError(productId);
        throw error;
      }
      await transitionStatus(trx, {
        product,
        to: "processing",
        reason: null,
        sequence,
        sourceKey: source.key,
        lastSequence: sequence,
        now,
      });
      return { kind: "started", sequence };
    });
  },

  async completeSequence(productId, sequence, completion: SequenceCompletion, now) {
    const { source, variants, skipped, original: analysis, duplicates = [] } = completion;
    await db.transaction().execute(async (trx) => {
      const original = await trx
        .selectFrom("product_originals")
        .select(["id", "status"])
        .where("product_id", "=", productId)
        .where("sequence", "=", sequence)
        // Locks the sequence so that two deliveries of one object finishing at once take turns.
        .forUpdate()
        .executeTakeFirst();
      if (original?.status !== "processing") return; // a duplicate delivery finished it first
      const row = await selectProduct(trx, productId);
      if (!row) return;
      // One statement per table, not per variant: over the Data API every statement is a round trip.
      if (variants.length > 0) {
        await trx
          .insertInto("product_images")
          .values(
            variants.map((variant) => ({
              product_id: productId,
              sequence,
              variant: variant.variant,
              object_key: variant.key,
              format: variant.format,
              width: variant.width,
              height: variant.height,
              bytes: variant.bytes,
              created_at: now,
            })),
          )
          .execute();
      }
      const sourceColumns = {
        product_id: productId,
        sequence,
        source_key: source.key,
        source_url: source.url,
        source_bytes: source.bytes,
        source_width: source.width,
        source_height: source.height,
        created_at: now,
      };
      const history = [
        ...variants.map((variant) => ({
          ...sourceColumns,
          event: "variant_created",
          mode: variant.mode,
          variant: variant.variant,
          output_key: variant.key,
          output_url: variant.url,
          output_bytes: variant.bytes,
          output_width: variant.width,
          output_height: variant.height,
          quality_metadata: JSON.stringify(variant.qualityMetadata),
          size_metadata: JSON.stringify(variant.sizeMetadata),
          processing_ms: Math.round(variant.processingMs),
          status: "succeeded",
        })),
        ...skipped.map((variant) => ({
          ...sourceColumns,
          event: "variant_skipped",
          mode: variant.mode,
          variant: variant.variant,
          quality_metadata: JSON.stringify({ operations: variant.operations }),
          size_metadata: null,
          status: "skipped",
          error: variant.reason,
        })),
      ];
      if (history.length > 0) await trx.insertInto("enhancement_history").values(history).execute();
      const [band0, band1, band2, band3, band4, band5] = analysis?.bands ?? [];
      await trx
        .updateTable("product_originals")
        .set({
          status: "succeeded",
          updated_at: now,
          ...(analysis
            ? {
                width: analysis.width,
                height: analysis.height,
                analysis: JSON.stringify(analysis.analysis),
                phash: analysis.pHash,
                dhash: analysis.dHash,
                phash_band0: band0 ?? null,
                phash_band1: band1 ?? null,
                phash_band2: band2 ?? null,
                phash_band3: band3 ?? null,
                phash_band4: band4 ?? null,
                phash_band5: band5 ?? null,
              }
            : {}),
        })
        .where("id", "=", original.id)
        .execute();
      if (analysis) {
        // This photo is now the product's only one that takes part in duplicate finding: older
        // originals lose their bands, and the product's pairs are made again from this photo's matches.
        await trx
          .updateTable("product_originals")
          .set({
            phash_band0: null,
            phash_band1: null,
            phash_band2: null,
            phash_band3: null,
            phash_band4: null,
            phash_band5: null,
          })
          .where("product_id", "=", productId)
          .where("id", "<>", original.id)
          .where("phash_band0", "is not", null)
          .execute();
        await trx
          .deleteFrom("product_duplicates")
          .where((eb) =>
            eb.or([eb("product_id", "=", productId), eb("duplicate_product_id", "=", productId)]),
          )
          .execute();
        if (duplicates.length > 0) {
          // Both ways: when this photo duplicates another product's, that product lists this one too.
          await trx
            .insertInto("product_duplicates")
            .values(
              duplicates.flatMap((duplicate) => {
                const distances = {
                  phash_distance: duplicate.pHashDistance,
                  dhash_distance: duplicate.dHashDistance,
                  created_at: now,
                };
                return [
                  {
                    product_id: productId,
                    original_id: original.id,
                    duplicate_product_id: duplicate.productId,
                    duplicate_original_id: duplicate.originalId,
                    ...distances,
                  },
                  {
                    product_id: duplicate.productId,
                    original_id: duplicate.originalId,
                    duplicate_product_id: productId,
                    duplicate_original_id: original.id,
                    ...distances,
                  },
                ];
              }),
            )
            .execute();
        }
      }
      await transitionStatus(trx, {
        product: productFromRow(row),
        to: "pending_review",
        reason: null,
        sequence,
        sourceKey: source.key,
        now,
      });
    });
  },

  async findDuplicateCandidates(productId, bands, limit) {
    if (bands.length !== 6) throw new Error(`expected 6 pHash bands, got ${bands.length}`);
    const columns = [
      "phash_band0",
      "phash_band1",
      "phash_band2",
      "phash_band3",
      "phash_band4",
      "phash_band5",
    ] as const;
    const rows = await db
      .selectFrom("product_originals")
      .select(["id", "product_id", "phash", "dhash"])
      .where("product_id", "<>", productId)
      .where((eb) => eb.or(columns.map((column, index) => eb(column, "=", bands[index] as number))))
      .orderBy("id", "desc")
      .limit(limit)
      .execute();
    return rows.flatMap((candidate) =>
      candidate.phash && candidate.dhash
        ? [
            {
              originalId: Number(candidate.id),
              productId: candidate.product_id,
              pHash: candidate.phash,
              dHash: candidate.dhash,
            },
          ]
        : [],
    );
  },

  async duplicatesOf(productId, limit) {
    const rows = await db
      .selectFrom("product_duplicates as d")
      .innerJoin("products as p", "p.id", "d.duplicate_product_id")
      .innerJoin("product_originals as o", "o.id", "d.duplicate_original_id")
      .select([
        "d.duplicate_product_id",
        "p.seller_id",
        "p.sku",
        "p.title",
        "p.status",
        "d.phash_distance",
        "d.dhash_distance",
        "o.object_key",
        "d.created_at",
      ])
      .where("d.product_id", "=", productId)
      .orderBy("d.phash_distance")
      .orderBy("d.dhash_distance")
      .orderBy("d.id")
      .limit(limit)
      .execute();
    return rows.map((row) => ({
      productId: row.duplicate_product_id,
      sellerId: row.seller_id,
      sku: row.sku,
      title: row.title,
      status: row.status,
      pHashDistance: row.phash_distance,
      dHashDistance: row.dhash_distance,
      originalKey: row.object_key,
      detectedAt: row.created_at,
    }));
  },

  async findStuckSequences(claimedBefore, limit) {
    const rows = await db
      .selectFrom("product_originals as o")
      .innerJoin("products as p", (join) =>
        join.onRef("p.id", "=", "o.product_id").onRef("p.last_sequence", "=", "o.sequence"),
      )
      .select(["o.product_id", "o.sequence", "o.object_key"])
      .where("o.status", "=", "processing")
      .where("p.status", "=", "processing")
      .where("o.updated_at", "<", claimedBefore)
      .orderBy("o.updated_at")
      .limit(limit)
      .execute();
    return rows.map((row) => ({ productId: row.product_id, sequence: row.sequence, key: row.object_key }));
  },

  async findUnreceivedUploads({ issuedAfter, issuedBefore, requeuedBefore, limit, after }) {
    let query = db
      .selectFrom("product_uploads as u")
      .innerJoin("products as p", "p.id", "u.product_id")
      .select(["u.id", "u.product_id", "u.object_key", "u.created_at"])
      .where("u.received_at", "is", null)
      .where("u.superseded_at", "is", null)
      .where("u.created_at", ">", issuedAfter)
      .where("u.created_at", "<", issuedBefore)
      .where((eb) => eb.or([eb("u.requeued_at", "is", null), eb("u.requeued_at", "<", requeuedBefore)]))
      .where("p.status", "<>", "approved");
    if (after) {
      query = query.where((eb) =>
        eb.or([
          eb("u.created_at", ">", after.issuedAt),
          eb.and([eb("u.created_at", "=", after.issuedAt), eb("u.id", ">", after.uploadId)]),
        ]),
      );
    }
    const rows = await query.orderBy("u.created_at").orderBy("u.id").limit(limit).execute();
    return rows.map((row) => ({
      uploadId: row.id,
      productId: row.product_id,
      key: row.object_key,
      issuedAt: row.created_at,
    }));
  },

  async countRequeuedUnreceived(since) {
    const row = await db
      .selectFrom("product_uploads")
      .select((eb) => eb.fn.countAll<number>().as("count"))
      .where("received_at", "is", null)
      .where("requeued_at", ">=", since)
      .executeTakeFirst();
    return Number(row?.count ?? 0);
  },

  async recordRequeue(upload, reason, now) {
    await db
      .updateTable("product_uploads")
      .set({ requeued_at: now })
      .where("id", "=", upload.uploadId)
      .execute();
    await db
      .insertInto("enhancement_history")
      .values({
        product_id: upload.productId,
        event: "notification_requeued",
        source_key: upload.key,
        status: "succeeded",
        error: reason,
        quality_metadata: null,
        size_metadata: null,
        created_at: now,
      })
      .execute();
  },

  async acquireLease(name, holder, until, now) {
    const result = await db
      .updateTable("leases")
      .set({ holder, expires_at: until })
      .where("name", "=", name)
      .where((eb) => eb.or([eb("holder", "is", null), eb("expires_at", "<", now)]))
      .executeTakeFirst();
    return result.numUpdatedRows === 1n;
  },

  async releaseLease(name, holder) {
    await db
      .updateTable("leases")
      .set({ holder: null, expires_at: null })
      .where("name", "=", name)
      .where("holder", "=", holder)
      .execute();
  },

  async latestOriginal(productId) {
    const row = await db
      .selectFrom("product_originals")
      .select([
        "object_key",
        "bucket",
        "upload_id",
        "bytes",
        "sequence",
        "width",
        "height",
        "analysis",
        "ai_analysis",
      ])
      .where("product_id", "=", productId)
      .where("status", "=", "succeeded")
      // A re-enhancement's sequence records no analysis: the photo's own sequence is the latest original.
      .where("phash", "is not", null)
      .orderBy("sequence", "desc")
      .limit(1)
      .executeTakeFirst();
    if (!row) return undefined;
    return {
      key: row.object_key,
      bucket: row.bucket,
      uploadId: row.upload_id,
      bytes: Number(row.bytes),
      sequence: row.sequence,
      width: row.width,
      height: row.height,
      analysis: readJson(row.analysis),
      aiAnalysis: readJson(row.ai_analysis) ?? null,
    };
  },

  async aiStepState(productId, sequence) {
    const product = await selectProduct(db, productId);
    if (!product) return undefined;
    const [original, images, failures] = await Promise.all([
      db
        .selectFrom("product_originals")
        .select(["bucket", "object_key", "ai_analysis"])
        .where("product_id", "=", productId)
        .where("sequence", "=", sequence)
        .executeTakeFirst(),
      db
        .selectFrom("product_images")
        .select("variant")
        .where("product_id", "=", productId)
        .where("sequence", "=", sequence)
        .where("ai_generated", "=", true)
        .execute(),
      db
        .selectFrom("enhancement_history")
        .select(["event", "variant"])
        .where("product_id", "=", productId)
        .where("sequence", "=", sequence)
        .where("event", "in", ["ai_variant_failed", "ai_analysis_failed"])
        .execute(),
    ]);
    return {
      status: product.status,
      lastSequence: product.last_sequence,
      original: original ? { bucket: original.bucket, key: original.object_key } : undefined,
      settledVariants: [
        ...images.map((image) => image.variant),
        ...failures.flatMap((row) => (row.event === "ai_variant_failed" && row.variant ? [row.variant] : [])),
      ],
      analysisSettled:
        (original?.ai_analysis ?? null) !== null ||
        failures.some((row) => row.event === "ai_analysis_failed"),
    };
  },

  async recordAi(productId, sequence, record, now) {
    const callColumns = (call: AiCallRecord | null) => ({
      model_version: call ? (call.modelVersion ?? call.model) : null,
      external_response_id: call?.responseId ?? null,
      token_usage: call?.usage ? JSON.stringify(call.usage) : null,
      processing_ms: call ? Math.round(call.latencyMs) : null,
    });
    await db.transaction().execute(async (trx) => {
      const base = {
        product_id: productId,
        sequence,
        quality_metadata: null,
        size_metadata: null,
        created_at: now,
      };
      if (record.kind === "variant") {
        const { image } = record;
        await trx
          .insertInto("product_images")
          .values({
            product_id: productId,
            sequence,
            variant: image.variant,
            object_key: image.key,
            format: image.format,
            width: image.width,
            height: image.height,
            bytes: image.bytes,
            ai_generated: true,
            needs_attention: image.needsAttention,
            guardrail: JSON.stringify(image.guardrail),
            created_at: now,
          })
          .execute();
        await trx
          .insertInto("enhancement_history")
          .values({
            ...base,
            ...callColumns(record.call),
            event: "ai_variant_created",
            mode: "AI",
            variant: image.variant,
            output_key: image.key,
            output_url: image.url,
            output_bytes: image.bytes,
            output_width: image.width,
            output_height: image.height,
            quality_metadata: JSON.stringify(image.qualityMetadata),
            size_metadata: JSON.stringify(image.sizeMetadata),
            details: JSON.stringify({
              promptId: record.promptId,
              needsAttention: image.needsAttention,
              guardrail: image.guardrail,
              attempts: record.call.attempts,
            }),
            status: image.needsAttention ? "needs_attention" : "succeeded",
          })
          .execute();
        return;
      }
      if (record.kind === "analysis") {
        await trx
          .updateTable("product_originals")
          .set({ ai_analysis: JSON.stringify(record.analysis), updated_at: now })
          .where("product_id", "=", productId)
          .where("sequence", "=", sequence)
          .execute();
        await trx
          .insertInto("enhancement_history")
          .values({
            ...base,
            ...callColumns(record.call),
            event: "ai_analysis",
            details: JSON.stringify({ ...record.analysis, attempts: record.call.attempts }),
            status: "succeeded",
          })
          .execute();
        return;
      }
      await trx
        .insertInto("enhancement_history")
        .values({
          ...base,
          ...callColumns(record.call),
          event: record.variant === null ? "ai_analysis_failed" : "ai_variant_failed",
          mode: "AI",
          variant: record.variant,
          details: JSON.stringify({ failure: record.failure, attempts: record.call?.attempts ?? 0 }),
          status: "failed",
          error: record.reason.slice(0, 1000),
        })
        .execute();
    });
  },

  async claimAiStep(productId, sequence, until, now) {
    const result = await db
      .updateTable("product_originals")
      .set({ ai_claimed_until: until })
      .where("product_id", "=", productId)
      .where("sequence", "=", sequence)
      .where((eb) => eb.or([eb("ai_claimed_until", "is", null), eb("ai_claimed_until", "<", now)]))
      .executeTakeFirst();
    return result.numUpdatedRows === 1n;
  },

  async releaseAiStep(productId, sequence) {
    await db
      .updateTable("product_originals")
      .set({ ai_claimed_until: null })
      .where("product_id", "=", productId)
      .where("sequence", "=", sequence)
      .execute();
  },

  async recordAiSkipped(productId, sequence, reason, now) {
    await db
      .insertInto("enhancement_history")
      .values({
        product_id: productId,
        sequence,
        event: "ai_skipped",
        status: "skipped",
        error: reason,
        quality_metadata: null,
        size_metadata: null,
        created_at: now,
      })
      .execute();
  },

  async failSequence(productId, sequence, reason, now) {
    await db.transaction().execute(async (trx) => {
      const original = await trx
        .selectFrom("product_originals")
        .select(["status", "object_key"])
        .where("product_id", "=", productId)
        .where("sequence", "=", sequence)
        .forUpdate()
        .executeTakeFirst();
      if (original?.status !== "processing") return;
      await trx
        .updateTable("product_originals")
        .set({ status: "failed", updated_at: now })
        .where("product_id", "=", productId)
        .where("sequence", "=", sequence)
        .execute();
      const row = await selectProduct(trx, productId);
      if (row?.status !== "processing" || row.last_sequence !== sequence) return;
      await transitionStatus(trx, {
        product: productFromRow(row),
        to: "failed",
        reason,
        sequence,
        sourceKey: original.object_key,
        now,
      });
    });
  },

  async recordRefusedUpload(productId, sourceKey, reason, now) {
    await db
      .insertInto("enhancement_history")
      .values({
        product_id: productId,
        event: "upload_refused",
        source_key: sourceKey,
        status: "failed",
        error: reason,
        quality_metadata: null,
        size_metadata: null,
        created_at: now,
      })
      .execute();
  },

  async ping() {
    await db.selectFrom("products").select("id").limit(1).execute();
  },
});
