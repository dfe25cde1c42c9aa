import { describe, expect, it } from "vitest";
import { AppError } from "../../lambdas/domain/errors.ts";
import {
  acceptsUploads,
  assertTransition,
  canTransition,
  PRODUCT_STATUSES,
} from "../../lambdas/domain/product-status.ts";

describe("product status rules", () => {
  it("allows exactly the moves in DESIGN.md", () => {
    const allowed = PRODUCT_STATUSES.flatMap((from) =>
      PRODUCT_STATUSES.filter((to) => canTransition(from, to)).map((to) => `${from}->${to}`),
    );
    expect(allowed.sort()).toEqual(
      [
        "pending->processing",
        "processing->pending_review",
        "processing->failed",
        "pending_review->approved",
        "pending_review->rejected",
        "pending_review->processing",
        "rejected->processing",
        "failed->processing",
      ].sort(),
    );
  });

  it("refuses a forbidden move with a conflict naming both statuses", () => {
    expect(() => assertTransition("pending", "approved")).toThrowError(AppError);
    expect(() => assertTransition("approved", "processing")).toThrowError(
      "a product cannot move from approved to processing",
    );
  });

  it("takes new photos in every status but approved", () => {
    expect(PRODUCT_STATUSES.filter(acceptsUploads)).toEqual([
      "pending",
      "processing",
      "pending_review",
      "rejected",
      "failed",
    ]);
  });
});
