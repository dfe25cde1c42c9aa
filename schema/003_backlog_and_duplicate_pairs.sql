-- What the reconciler needs to tell a photo that is waiting in a long queue from one whose notification
-- was lost, and the order in which a product's photos landed:
--   landed_at     when the photo's object was stored (the S3 event's time, else the object's LastModified);
--   received_at   when the worker first received its notification, even if it could not start it yet;
--   superseded_at when a newer photo of the same product made it moot (it is then never processed);
--   requeued_at   when the reconciler last sent its notification again (that message is then in the queue).

ALTER TABLE product_uploads
  ADD COLUMN landed_at DATETIME(3) NULL,
  ADD COLUMN received_at DATETIME(3) NULL,
  ADD COLUMN superseded_at DATETIME(3) NULL,
  ADD COLUMN requeued_at DATETIME(3) NULL;

-- Every upload that already started a sequence was received; when exactly is lost, so its issue time stands in.
UPDATE product_uploads u
  SET received_at = u.created_at, landed_at = u.created_at
  WHERE EXISTS (SELECT 1 FROM product_originals o WHERE o.upload_id = u.id);

-- The reconciler's queries, each answered from an index: unreceived uploads by issue time, stuck sequences by
-- status and age; and a product's newer uploads when the worker decides whether one supersedes another.
CREATE INDEX ix_product_uploads_unreceived ON product_uploads (received_at, created_at);
CREATE INDEX ix_product_uploads_product_landed ON product_uploads (product_id, landed_at);
CREATE INDEX ix_product_originals_status_updated ON product_originals (status, updated_at);

-- Duplicates are one row per ordered pair of products, written both ways, between each product's latest
-- photo only. An original that is no longer its product's latest loses its pHash bands, so the band index
-- can no longer find it as a candidate (its hashes stay, for the record).
UPDATE product_originals o
  JOIN (
    SELECT product_id, MAX(id) AS latest_id
    FROM product_originals
    WHERE phash IS NOT NULL AND status = 'succeeded'
    GROUP BY product_id
  ) latest ON latest.product_id = o.product_id
  SET o.phash_band0 = NULL, o.phash_band1 = NULL, o.phash_band2 = NULL,
      o.phash_band3 = NULL, o.phash_band4 = NULL, o.phash_band5 = NULL
  WHERE o.id <> latest.latest_id;

DELETE d FROM product_duplicates d
  JOIN product_originals mine ON mine.id = d.original_id
  JOIN product_originals theirs ON theirs.id = d.duplicate_original_id
  WHERE mine.phash_band0 IS NULL OR theirs.phash_band0 IS NULL;

INSERT INTO product_duplicates
  (product_id, original_id, duplicate_product_id, duplicate_original_id, phash_distance, dhash_distance, created_at)
  SELECT d.duplicate_product_id, d.duplicate_original_id, d.product_id, d.original_id,
         d.phash_distance, d.dhash_distance, d.created_at
  FROM product_duplicates d
  WHERE NOT EXISTS (
    SELECT 1 FROM product_duplicates r
    WHERE r.product_id = d.duplicate_product_id AND r.duplicate_product_id = d.product_id
  );

CREATE UNIQUE INDEX uq_product_duplicates_products ON product_duplicates (product_id, duplicate_product_id);
CREATE INDEX ix_product_duplicates_other ON product_duplicates (duplicate_product_id);

-- Named leases: a run that must never overlap another (the reconciler) takes one with a conditional UPDATE
-- that commits on its own, so it works the same over the Data API, which keeps no session between calls.
CREATE TABLE leases (
  name VARCHAR(64) NOT NULL,
  holder VARCHAR(100) NULL,
  expires_at DATETIME(3) NULL,
  PRIMARY KEY (name)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

INSERT INTO leases (name) VALUES ('reconciler');
