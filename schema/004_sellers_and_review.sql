-- Sign-in, ownership and review (issue 10).
--   seller_id          the token subject (`sub`) of the seller who created the product. Rows created before
--                      sign-in existed belong to the seller 'unassigned': reviewers see and review them, no
--                      seller does until an operator hands them over (README, "Products from before sign-in").
--   status_changed_at  when the product entered its current status: the review queue is longest-waiting first.
--   main_image         the variant a reviewer chose when approving the product.
ALTER TABLE products
  ADD COLUMN seller_id VARCHAR(128) NOT NULL DEFAULT 'unassigned',
  ADD COLUMN status_changed_at DATETIME(3) NULL,
  ADD COLUMN main_image VARCHAR(32) NULL;

ALTER TABLE products ALTER COLUMN seller_id DROP DEFAULT;

UPDATE products SET status_changed_at = updated_at;

ALTER TABLE products MODIFY status_changed_at DATETIME(3) NOT NULL;

-- A sku is unique per seller, not across the catalogue: two sellers may both sell a 'MUG-1'.
ALTER TABLE products DROP INDEX uq_products_sku, ADD UNIQUE KEY uq_products_seller_sku (seller_id, sku);

-- A seller's list newest first; the review queue by status and waiting time; a reviewer's category filter.
CREATE INDEX ix_products_seller_created ON products (seller_id, created_at, id);
CREATE INDEX ix_products_status_changed ON products (status, status_changed_at, id);
CREATE INDEX ix_products_category_created ON products (category, created_at, id);

-- Who did it and why: the reviewer of a decision (and its reason), the seller of an upload.
ALTER TABLE enhancement_history
  ADD COLUMN actor VARCHAR(128) NULL,
  ADD COLUMN reason VARCHAR(1000) NULL;
