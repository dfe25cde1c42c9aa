import type { Db } from "../../lambdas/adapters/database.ts";

/**
 * Puts a product in `pending_review` with a finished sequence of these variants, as the worker leaves it,
 * without running the engine: the review and access suites are about who may do what, not about pixels.
 */
export const markPendingReview = async (
  db: Db,
  productId: string,
  {
    variants = ["standard", "thumb"],
    waitingSince = new Date(),
  }: { variants?: string[]; waitingSince?: Date } = {},
): Promise<void> => {
  await db
    .insertInto("product_images")
    .values(
      variants.map((variant) => ({
        product_id: productId,
        sequence: 1,
        variant,
        object_key: `enhanced/${productId}/1/${variant}.jpg`,
        format: "jpeg",
        width: 800,
        height: 800,
        bytes: 50_000,
        created_at: waitingSince,
      })),
    )
    .execute();
  await db
    .updateTable("products")
    .set((eb) => ({
      status: "pending_review",
      last_sequence: 1,
      status_changed_at: waitingSince,
      version: eb("version", "+", 1),
    }))
    .where("id", "=", productId)
    .execute();
};

/**
 * Everything a refused request could have touched, in a comparable form: a test takes it before and after,
 * and a refusal must leave it exactly as it was.
 */
export const catalogueSnapshot = async (db: Db) => ({
  products: await db.selectFrom("products").selectAll().orderBy("id").execute(),
  uploads: await db.selectFrom("product_uploads").select(["id", "product_id"]).orderBy("id").execute(),
  history: await db.selectFrom("enhancement_history").select(["id", "event"]).orderBy("id").execute(),
});
