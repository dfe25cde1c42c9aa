import { z } from "zod";
import { type Caller, requireRole } from "./caller.ts";
import { AppError, notFound } from "./errors.ts";
import type { ReviewDecision } from "./ports.ts";
import { type ProductJson, productJson } from "./product.ts";
import { parseRequest } from "./product-input.ts";
import type { ApiDeps } from "./products.ts";

const approveSchema = z
  .object({
    decision: z.literal("approve"),
    mainImage: z
      .string({ error: "is required: the variant that becomes the product's main image" })
      .min(1, "must name a variant")
      .max(32, "must be at most 32 characters"),
  })
  .strict();

const rejectSchema = z
  .object({
    decision: z.literal("reject"),
    reason: z
      .string({ error: "is required: say what the seller should change" })
      .trim()
      .min(3, "must be at least 3 characters")
      .max(500, "must be at most 500 characters"),
  })
  .strict();

const DECISION_ERROR = "must be approve (with mainImage) or reject (with reason)";

/** A product's review decision: approve with the variant that becomes its main image, or reject with a reason. */
export const reviewDecisionSchema = z.discriminatedUnion("decision", [approveSchema, rejectSchema], {
  error: DECISION_ERROR,
});

export const MAX_REVIEWS_PER_REQUEST = 100;

const productIdField = z.string({ error: "is required: the product id" }).max(64, "is not a product id");

/** One decision of `POST /reviews`: the same decision, naming its product. */
export const reviewItemSchema = z.discriminatedUnion(
  "decision",
  [approveSchema.extend({ id: productIdField }), rejectSchema.extend({ id: productIdField })],
  { error: DECISION_ERROR },
);

export const bulkReviewSchema = z
  .object({
    reviews: z
      .array(z.unknown(), { error: "must be an array of decisions" })
      .min(1, "must contain at least 1 decision")
      .max(MAX_REVIEWS_PER_REQUEST, `must contain at most ${MAX_REVIEWS_PER_REQUEST} decisions`),
  })
  .strict();

/** A 409 that carries the product as it now is, so the reviewer sees who decided first and what. */
export class DecidedAlready extends AppError {
  readonly product: ProductJson;

  constructor(message: string, product: ProductJson) {
    super("CONFLICT", message);
    this.product = product;
  }
}

/**
 * Applies one reviewer's decision to a product in `pending_review`. Of two reviewers deciding at once one
 * wins; the other gets a 409 with the product as the winner left it. The decision, its reviewer and reason
 * are a row of the product's history.
 */
export const reviewProduct = async (
  deps: ApiDeps,
  caller: Caller,
  productId: string,
  decision: ReviewDecision,
): Promise<ProductJson> => {
  requireRole(caller, "reviewer", "approve or reject products");
  const outcome = await deps.repository.decideReview({
    productId,
    decision,
    actor: caller.name === caller.id ? caller.id : `${caller.name} (${caller.id})`,
    now: deps.clock(),
  });
  switch (outcome.kind) {
    case "decided":
      await deps.push?.productChanged(productId);
      return productJson(outcome.product);
    case "not-found":
      throw notFound("product", productId);
    case "not-pending":
      throw new DecidedAlready(
        `product ${productId} is ${outcome.product.status}: only a product in pending_review can be approved or rejected`,
        productJson(outcome.product),
      );
    case "unknown-variant":
      throw new AppError("VALIDATION_FAILED", "the request has 1 invalid field(s)", [
        {
          path: "mainImage",
          message:
            outcome.variants.length > 0
              ? `must be one of the product's current variants: ${outcome.variants.join(", ")}`
              : "the product has no variants to choose from",
        },
      ]);
  }
};

export interface ReviewItemResult {
  id: string;
  /** The product's status after this item; null when there is no such product. */
  status: ProductJson["status"] | null;
  error?: { code: string; message: string; details: { path: string; message: string }[] };
}

/**
 * Up to 100 decisions, each applied on its own and answered on its own: a bad item (invalid, unknown,
 * decided already) is reported in its place and never blocks the others.
 */
export const reviewProducts = async (
  deps: ApiDeps,
  caller: Caller,
  items: unknown[],
): Promise<ReviewItemResult[]> => {
  requireRole(caller, "reviewer", "approve or reject products");
  const results: ReviewItemResult[] = [];
  // One at a time: each locks its product row, and a hundred short transactions in a row stay far below
  // the function's timeout, without contending for the database's connections.
  for (const [index, item] of items.entries()) {
    const id = typeof (item as { id?: unknown } | null)?.id === "string" ? (item as { id: string }).id : "";
    try {
      const { id: given, ...decision } = parseRequest(reviewItemSchema, item, ["reviews", index]);
      const product = await reviewProduct(deps, caller, given.toLowerCase(), decision as ReviewDecision);
      results.push({ id: product.id, status: product.status });
    } catch (error) {
      if (!(error instanceof AppError)) throw error;
      results.push({
        id,
        status: error instanceof DecidedAlready ? error.product.status : null,
        error: { code: error.code, message: error.message, details: error.details },
      });
    }
  }
  return results;
};
