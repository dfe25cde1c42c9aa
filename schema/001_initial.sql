-- Written for Aurora MySQL 3 (MySQL 8.0) and kept runnable on MariaDB 10.11 for local work:
-- no RETURNING, no IF NOT EXISTS on ALTER/CREATE INDEX, no JSON literal defaults, no 0900 collations.
-- Statements end with ';' at the end of a line: the runner splits on that.

CREATE TABLE products (
  id CHAR(36) NOT NULL,
  sku VARCHAR(64) NOT NULL,
  title VARCHAR(200) NOT NULL,
  category VARCHAR(100) NOT NULL,
  mrp DECIMAL(12, 2) NOT NULL,
  price DECIMAL(12, 2) NOT NULL,
  discount DECIMAL(5, 2) NOT NULL,
  gst DECIMAL(5, 2) NOT NULL,
  status VARCHAR(20) NOT NULL,
  status_reason VARCHAR(1000) NULL,
  last_sequence INT NOT NULL DEFAULT 0,
  version INT NOT NULL DEFAULT 1,
  created_at DATETIME(3) NOT NULL,
  updated_at DATETIME(3) NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uq_products_sku (sku),
  KEY ix_products_status_created (status, created_at),
  CONSTRAINT ck_products_status CHECK (status IN ('pending', 'processing', 'pending_review', 'approved', 'rejected', 'failed'))
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- One row per presigned POST handed out: the worker only processes keys it finds here.
CREATE TABLE product_uploads (
  id CHAR(36) NOT NULL,
  product_id CHAR(36) NOT NULL,
  object_key VARCHAR(255) NOT NULL,
  content_type VARCHAR(32) NOT NULL,
  max_bytes BIGINT NOT NULL,
  expires_at DATETIME(3) NOT NULL,
  created_at DATETIME(3) NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uq_product_uploads_key (object_key),
  KEY ix_product_uploads_product (product_id),
  CONSTRAINT fk_product_uploads_product FOREIGN KEY (product_id) REFERENCES products (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- One row per distinct uploaded object version. The unique (bucket, key, etag) is what makes the
-- worker idempotent: S3 may deliver one ObjectCreated event twice, under two SQS message ids.
CREATE TABLE product_originals (
  id BIGINT NOT NULL AUTO_INCREMENT,
  product_id CHAR(36) NOT NULL,
  upload_id CHAR(36) NOT NULL,
  sequence INT NOT NULL,
  bucket VARCHAR(63) NOT NULL,
  object_key VARCHAR(255) NOT NULL,
  etag VARCHAR(80) NOT NULL,
  bytes BIGINT NOT NULL,
  status VARCHAR(20) NOT NULL,
  created_at DATETIME(3) NOT NULL,
  updated_at DATETIME(3) NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uq_product_originals_object (bucket, object_key, etag),
  UNIQUE KEY uq_product_originals_sequence (product_id, sequence),
  CONSTRAINT fk_product_originals_product FOREIGN KEY (product_id) REFERENCES products (id) ON DELETE CASCADE,
  CONSTRAINT ck_product_originals_status CHECK (status IN ('processing', 'succeeded', 'failed'))
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

CREATE TABLE product_images (
  id BIGINT NOT NULL AUTO_INCREMENT,
  product_id CHAR(36) NOT NULL,
  sequence INT NOT NULL,
  variant VARCHAR(32) NOT NULL,
  object_key VARCHAR(255) NOT NULL,
  format VARCHAR(10) NOT NULL,
  width INT NOT NULL,
  height INT NOT NULL,
  bytes INT NOT NULL,
  created_at DATETIME(3) NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uq_product_images_variant (product_id, sequence, variant),
  CONSTRAINT fk_product_images_product FOREIGN KEY (product_id) REFERENCES products (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- Every status change and every variant, in order: the product's audit trail.
CREATE TABLE enhancement_history (
  id BIGINT NOT NULL AUTO_INCREMENT,
  product_id CHAR(36) NOT NULL,
  sequence INT NULL,
  event VARCHAR(32) NOT NULL,
  from_status VARCHAR(20) NULL,
  to_status VARCHAR(20) NULL,
  mode VARCHAR(32) NULL,
  variant VARCHAR(32) NULL,
  source_key VARCHAR(255) NULL,
  source_url VARCHAR(1024) NULL,
  output_key VARCHAR(255) NULL,
  output_url VARCHAR(1024) NULL,
  source_bytes BIGINT NULL,
  output_bytes BIGINT NULL,
  source_width INT NULL,
  source_height INT NULL,
  output_width INT NULL,
  output_height INT NULL,
  quality_metadata JSON NULL,
  size_metadata JSON NULL,
  processing_ms INT NULL,
  status VARCHAR(20) NOT NULL,
  model_version VARCHAR(100) NULL,
  external_response_id VARCHAR(200) NULL,
  error VARCHAR(1000) NULL,
  created_at DATETIME(3) NOT NULL,
  PRIMARY KEY (id),
  KEY ix_enhancement_history_product (product_id, id),
  CONSTRAINT fk_enhancement_history_product FOREIGN KEY (product_id) REFERENCES products (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
