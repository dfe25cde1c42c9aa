-- The enhancement engine's analysis of each original, its perceptual hashes, and the duplicates found.
-- pHash is split into six bands (pigeonhole: two hashes within Hamming distance 5 share at least one
-- identical band), each indexed, so a lookup reads candidates through six index probes, never the table.

ALTER TABLE product_originals
  ADD COLUMN width INT NULL,
  ADD COLUMN height INT NULL,
  ADD COLUMN analysis JSON NULL,
  ADD COLUMN phash CHAR(16) NULL,
  ADD COLUMN dhash CHAR(16) NULL,
  ADD COLUMN phash_band0 INT NULL,
  ADD COLUMN phash_band1 INT NULL,
  ADD COLUMN phash_band2 INT NULL,
  ADD COLUMN phash_band3 INT NULL,
  ADD COLUMN phash_band4 INT NULL,
  ADD COLUMN phash_band5 INT NULL;

CREATE INDEX ix_product_originals_phash_band0 ON product_originals (phash_band0);
CREATE INDEX ix_product_originals_phash_band1 ON product_originals (phash_band1);
CREATE INDEX ix_product_originals_phash_band2 ON product_originals (phash_band2);
CREATE INDEX ix_product_originals_phash_band3 ON product_originals (phash_band3);
CREATE INDEX ix_product_originals_phash_band4 ON product_originals (phash_band4);
CREATE INDEX ix_product_originals_phash_band5 ON product_originals (phash_band5);

CREATE TABLE product_duplicates (
  id BIGINT NOT NULL AUTO_INCREMENT,
  product_id CHAR(36) NOT NULL,
  original_id BIGINT NOT NULL,
  duplicate_product_id CHAR(36) NOT NULL,
  duplicate_original_id BIGINT NOT NULL,
  phash_distance INT NOT NULL,
  dhash_distance INT NOT NULL,
  created_at DATETIME(3) NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uq_product_duplicates_pair (original_id, duplicate_original_id),
  KEY ix_product_duplicates_product (product_id),
  CONSTRAINT fk_product_duplicates_product FOREIGN KEY (product_id) REFERENCES products (id) ON DELETE CASCADE,
  CONSTRAINT fk_product_duplicates_original FOREIGN KEY (original_id) REFERENCES product_originals (id) ON DELETE CASCADE,
  CONSTRAINT fk_product_duplicates_other FOREIGN KEY (duplicate_original_id) REFERENCES product_originals (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
