import { AppError } from "./errors.ts";

export const PRODUCT_STATUSES = [
  "pending",
  "processing",
  "pending_review",
  "approved",
  "rejected",
  "failed",
] as const;
export type ProductStatus = (typeof PRODUCT_STATUSES)[number];

/**
 * The only moves a product's status can make (DESIGN.md): a new upload starts a new
 * enhancement sequence from `pending_review`, `rejected` or `failed`.
 */
const ALLOWED: Record<ProductStatus, readonly ProductStatus[]> = {
  pending: ["processing"],
  processing: ["pending_review", "failed"],
  pending_review: ["approved", "rejected", "processing"],
  approved: [],
  rejected: ["processing"],
  failed: ["processing"],
};

export const canTransition = (from: ProductStatus, to: ProductStatus): boolean => ALLOWED[from].includes(to);

export const assertTransition = (from: ProductStatus, to: ProductStatus): void => {
  if (!canTransition(from, to)) {
    throw new AppError("CONFLICT", `a product cannot move from ${from} to ${to}`);
  }
};

/**
 * Whether a new photo may be uploaded for a product in this status. While one photo is
 * `processing`, a newer upload waits in the queue until that sequence ends.
 */
export const acceptsUploads = (status: ProductStatus): boolean =>
  status === "processing" || canTransition(status, "processing");
