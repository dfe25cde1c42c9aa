import { z } from "zod";
import { variantSpecSchema } from "../engine/variant-spec.ts";
import { RAW_RETENTION_DAYS } from "../names.ts";
import { CHANGES } from "./changes.ts";
import type { ProductJson } from "./product.ts";
import { PRODUCT_STATUSES } from "./product-status.ts";

/**
 * What the API answers, as zod schemas: the response types are inferred from them, and the OpenAPI document
 * (`lambdas/handlers/http/openapi-document.ts`) describes them, so the description cannot drift from the code.
 * Requests are validated by their own schemas (`product-input.ts`, `products.ts`, `review.ts`).
 */

const isoTime = z.iso.datetime({ offset: true }).meta({ example: "2026-12-02T09:30:00.000Z" });
const decimalText = z.string().meta({ description: "a decimal with two places", example: "449.00" });
const status = z.enum(PRODUCT_STATUSES);

export const errorBodySchema = z
  .object({
    error: z.object({
      code: z.string().meta({ example: "VALIDATION_FAILED" }),
      message: z.string(),
      details: z.array(
        z.object({ path: z.string().meta({ example: "products[3].price" }), message: z.string() }),
      ),
    }),
  })
  .meta({
    id: "Error",
    description: "Every error: a code, a message a person can act on, and each bad field.",
  });

export const productJsonSchema = z
  .object({
    id: z.uuid(),
    sellerId: z.string().meta({ description: "the subject (sub) of the seller's token" }),
    sku: z.string(),
    title: z.string(),
    category: z.string(),
    mrp: decimalText,
    price: decimalText,
    discount: decimalText,
    gst: decimalText,
    status,
    statusReason: z.string().nullable().meta({ description: "why it failed or was rejected" }),
    statusChangedAt: isoTime,
    mainImage: z.string().nullable().meta({ description: "the variant the reviewer chose on approval" }),
    sequence: z.number().int().meta({ description: "the newest enhancement sequence (0 before any photo)" }),
    createdAt: isoTime,
    updatedAt: isoTime,
  })
  .meta({ id: "Product" });

/** The inferred and the declared product JSON are one type: neither can gain a field alone. */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const productJsonMatches: Same<z.output<typeof productJsonSchema>, ProductJson> = true;
void productJsonMatches;

export const uploadTicketSchema = z
  .object({
    url: z.url(),
    fields: z.record(z.string(), z.string()),
    key: z.string(),
    expiresAt: isoTime,
    maxBytes: z.number().int(),
  })
  .meta({
    id: "UploadTicket",
    description: "A presigned POST: send `fields`, then the file last, as multipart/form-data to `url`.",
  });

export const productSummarySchema = z
  .object({
    id: z.uuid(),
    sku: z.string(),
    status,
    statusReason: z.string().nullable(),
    created: z.boolean().meta({ description: "false when the seller already had a product with this sku" }),
    upload: uploadTicketSchema.nullable().meta({ description: "null when the product takes no more photos" }),
  })
  .meta({ id: "CreatedProduct" });

export const createProductsResponseSchema = z.object({ products: z.array(productSummarySchema) });

/** The guardrail's figures for an AI image: how it compares with the original photo. */
export const guardrailSchema = z
  .object({
    verdict: z.enum(["same", "needs_attention"]),
    reasons: z.array(z.string()),
  })
  .loose()
  .meta({ id: "Guardrail", description: "the measured figures; `reasons` names each threshold crossed" });

export const imageViewSchema = z
  .object({
    variant: z.string(),
    url: z.url(),
    format: z.string(),
    width: z.number().int(),
    height: z.number().int(),
    bytes: z.number().int(),
    sequence: z.number().int(),
    aiGenerated: z.boolean().meta({ description: "made by Gemini (also said in the image's XMP)" }),
    needsAttention: z.boolean().meta({
      description: "the guardrail doubts it still shows the same product: check it before choosing it",
    }),
    guardrail: guardrailSchema.nullable(),
  })
  .meta({ id: "Image" });

export const analysisViewSchema = z
  .object({
    width: z.number().int().nullable(),
    height: z.number().int().nullable(),
    quality: z.unknown().meta({ description: "the engine's quality scores of the original" }),
    compliance: z.unknown().meta({ description: "the marketplace compliance report of the original" }),
    ai: z
      .object({
        model: z.string(),
        modelVersion: z.string().nullable(),
        responseId: z.string().nullable(),
        analysedAt: isoTime,
        product: z.string(),
        background: z.string(),
        problems: z.array(z.string()),
        recommendedMode: z.string(),
        altText: z.string(),
        suggestedTitle: z.string(),
        suggestedCategory: z.string(),
      })
      .nullable()
      .meta({
        description:
          "Gemini's analysis of the photo; null without a key, or when it failed (see the history)",
      }),
  })
  .meta({ id: "Analysis" });

export const duplicateEntrySchema = z
  .object({
    product: z
      .object({ id: z.uuid(), sellerId: z.string(), sku: z.string(), title: z.string(), status })
      .nullable()
      .meta({
        description:
          "the other product; null when it belongs to another seller (only reviewers see other sellers' products)",
      }),
    pHashDistance: z.number().int(),
    dHashDistance: z.number().int(),
    detectedAt: isoTime,
  })
  .meta({ id: "Duplicate" });

export const originalViewSchema = z
  .object({
    url: z.url().meta({
      description:
        "a presigned GET of the photo in the raw bucket, valid until expiresAt (at least 15 minutes); the same URL for a few minutes, so a browser's cache serves it",
    }),
    contentType: z.string().meta({
      description: "the type the upload declared (image/tiff is one a browser cannot show)",
      example: "image/jpeg",
    }),
    width: z.number().int().nullable(),
    height: z.number().int().nullable(),
    bytes: z.number().int(),
    expiresAt: isoTime,
  })
  .meta({
    id: "Original",
    description:
      "The seller's photo the current analysis and variants were made from, to compare them against.",
  });

export const productViewSchema = productJsonSchema
  .extend({
    images: z.array(imageViewSchema),
    original: originalViewSchema.nullable().meta({
      description: `null before any photo was processed, and once the raw bucket no longer keeps it (${RAW_RETENTION_DAYS} days after upload)`,
    }),
    analysis: analysisViewSchema.nullable(),
    duplicates: z.array(duplicateEntrySchema),
  })
  .meta({ id: "ProductDetail" });

export const productListItemSchema = productJsonSchema
  .pick({
    id: true,
    sellerId: true,
    sku: true,
    title: true,
    category: true,
    status: true,
    statusReason: true,
    statusChangedAt: true,
    mainImage: true,
    sequence: true,
    createdAt: true,
    updatedAt: true,
  })
  .extend({ thumbnailUrl: z.url().nullable() })
  .meta({ id: "ProductListItem" });

export const productListSchema = z.object({
  products: z.array(productListItemSchema),
  nextCursor: z
    .string()
    .nullable()
    .meta({ description: "pass as `cursor` for the next page; null on the last" }),
});

export const changeEventSchema = z
  .object({
    id: z.number().int().meta({ description: "the history row's id (as in GET /products/{id}/history)" }),
    event: z.string().meta({ example: "reviewed" }),
    variant: z
      .string()
      .nullable()
      .meta({ description: "the variant made, or the main image an approval chose" }),
    toStatus: status.nullable().meta({ description: "the status the product entered, for a status change" }),
    createdAt: isoTime,
  })
  .meta({ id: "ChangeEvent", description: "One row of the product's history, in brief." });

export const productChangeSchema = z
  .object({
    product: productListItemSchema,
    events: z.array(changeEventSchema).meta({
      description: `what happened to it since the cursor, oldest first: at most the latest ${CHANGES.eventsPerProduct} (GET /products/{id}/history has them all)`,
    }),
  })
  .meta({
    id: "ProductChange",
    description: "A product that changed: as it is now (as GET /products lists it), and what happened.",
  });

export const changesResponseSchema = z
  .object({
    changes: z.array(productChangeSchema).meta({
      description: `at most ${CHANGES.products} products, ordered by their latest change (the newest last); empty when only the cursor moved`,
    }),
    cursor: z.string().meta({ description: "pass as `since` on the next call" }),
    more: z.boolean().meta({ description: "true when there is more to fetch at once, with the new cursor" }),
  })
  .meta({ id: "Changes" });

export const historyEntrySchema = z
  .object({
    id: z.number().int(),
    sequence: z.number().int().nullable(),
    event: z.string().meta({ example: "reviewed" }),
    fromStatus: status.nullable(),
    toStatus: status.nullable(),
    mode: z.string().nullable(),
    variant: z.string().nullable(),
    sourceKey: z.string().nullable(),
    outputKey: z.string().nullable(),
    outputUrl: z.string().nullable(),
    sourceBytes: z.number().int().nullable(),
    outputBytes: z.number().int().nullable(),
    outputWidth: z.number().int().nullable(),
    outputHeight: z.number().int().nullable(),
    qualityMetadata: z.unknown(),
    sizeMetadata: z.unknown(),
    processingMs: z.number().int().nullable(),
    status: z.string(),
    error: z.string().nullable(),
    actor: z.string().nullable().meta({ description: "who did it: the reviewer of a decision" }),
    reason: z.string().nullable().meta({ description: "why: a rejection's reason" }),
    modelVersion: z.string().nullable().meta({ description: "an AI call's model, as it answered" }),
    responseId: z.string().nullable().meta({ description: "an AI call's response id" }),
    tokenUsage: z
      .object({
        promptTokens: z.number().int(),
        outputTokens: z.number().int(),
        thoughtTokens: z.number().int(),
        totalTokens: z.number().int(),
      })
      .nullable()
      .meta({ description: "the tokens an AI call used" }),
    details: z.unknown().meta({ description: "what an AI call answered or measured (analysis, guardrail)" }),
    createdAt: isoTime,
  })
  .meta({ id: "HistoryEntry" });

export const historyPageSchema = z.object({
  history: z.array(historyEntrySchema),
  nextCursor: z.string().nullable(),
});

export const reenhanceAcceptedSchema = z
  .object({
    requestId: z.uuid(),
    productId: z.uuid(),
    variant: variantSpecSchema.partial({ format: true }).required({ name: true, mode: true }),
  })
  .meta({ id: "ReenhanceAccepted" });

const checkSchema = z.object({ status: z.enum(["ok", "unavailable"]), latencyMs: z.number().int() });

export const healthReportSchema = z
  .object({
    status: z.enum(["ok", "degraded"]),
    checks: z.object({
      database: checkSchema,
      objectStore: checkSchema,
      queue: checkSchema,
      gemini: z
        .union([
          z.object({ status: z.literal("not_configured") }),
          z.object({ status: z.enum(["ok", "unavailable"]), latencyMs: z.number().int() }),
        ])
        .meta({
          description:
            "configured and answering (ok), configured and not answering (unavailable), or no key (not_configured); it never makes the service degraded",
        }),
    }),
  })
  .meta({ id: "Health" });

export type UploadTicket = z.output<typeof uploadTicketSchema>;
export type ProductSummary = z.output<typeof productSummarySchema>;
export type ImageView = z.output<typeof imageViewSchema>;
export type AnalysisView = z.output<typeof analysisViewSchema>;
export type DuplicateEntry = z.output<typeof duplicateEntrySchema>;
export type OriginalView = z.output<typeof originalViewSchema>;
export type ProductView = z.output<typeof productViewSchema>;
export type ProductListItem = z.output<typeof productListItemSchema>;
export type HistoryEntryJson = z.output<typeof historyEntrySchema>;
export type ChangeEventJson = z.output<typeof changeEventSchema>;
export type ProductChange = z.output<typeof productChangeSchema>;
export type ChangesResponse = z.output<typeof changesResponseSchema>;
export type HealthReport = z.output<typeof healthReportSchema>;
