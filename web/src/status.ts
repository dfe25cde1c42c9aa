import type { ProductStatus } from "./api.ts";

/**
 * A label for every status the API can answer. The record's type makes it exhaustive: a status added to the
 * server's enum (`lambdas/domain/product-status.ts`) fails the type check here until it has a label.
 */
export const STATUS_LABELS: Record<ProductStatus, string> = {
  pending: "Awaiting photo",
  processing: "Processing",
  pending_review: "In review",
  approved: "Approved",
  rejected: "Rejected",
  failed: "Failed",
};

export const STATUSES = Object.keys(STATUS_LABELS) as ProductStatus[];
