import type { RDSDataClient } from "@aws-sdk/client-rds-data";
import type { ColumnType, Generated } from "kysely";
import { Kysely, MysqlDialect } from "kysely";
import { createPool } from "mysql2";
import type { ProductRow } from "../domain/product.ts";
import { DataApiMysqlDialect } from "./data-api-dialect.ts";

/** Written as a Date, read back as a Date (mysql2 with `timezone: "Z"`: every timestamp is UTC). */
type Timestamp = ColumnType<Date, Date, Date>;
/** JSON travels as text on the way in and usually comes back parsed; `readJson` takes either. */
type JsonColumn = ColumnType<unknown, string | null, string | null>;

/** The product's row, derived from its one definition (`domain/product.ts`); DECIMALs stay strings. */
export type ProductsTable = Omit<ProductRow, "last_sequence" | "version"> & {
  last_sequence: Generated<number>;
  version: Generated<number>;
};

export interface ProductUploadsTable {
  id: string;
  product_id: string;
  object_key: string;
  content_type: string;
  max_bytes: number;
  expires_at: Timestamp;
  created_at: Timestamp;
  landed_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
  received_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
  superseded_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
  requeued_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
}

export type OriginalStatus = "processing" | "succeeded" | "failed";

export interface ProductOriginalsTable {
  id: Generated<number>;
  product_id: string;
  upload_id: string;
  sequence: number;
  bucket: string;
  object_key: string;
  etag: string;
  bytes: number;
  status: OriginalStatus;
  created_at: Timestamp;
  updated_at: Timestamp;
  width: ColumnType<number | null, number | null | undefined, number | null>;
  height: ColumnType<number | null, number | null | undefined, number | null>;
  /** The engine's assessment of the original (quality, background, compliance). */
  analysis: ColumnType<unknown, string | null | undefined, string | null>;
  ai_analysis: ColumnType<unknown, string | null | undefined, string | null>;
  ai_claimed_until: ColumnType<Date | null, Date | null | undefined, Date | null>;
  phash: ColumnType<string | null, string | null | undefined, string | null>;
  dhash: ColumnType<string | null, string | null | undefined, string | null>;
  phash_band0: ColumnType<number | null, number | null | undefined, number | null>;
  phash_band1: ColumnType<number | null, number | null | undefined, number | null>;
  phash_band2: ColumnType<number | null, number | null | undefined, number | null>;
  phash_band3: ColumnType<number | null, number | null | undefined, number | null>;
  phash_band4: ColumnType<number | null, number | null | undefined, number | null>;
  phash_band5: ColumnType<number | null, number | null | undefined, number | null>;
}

export interface ProductDuplicatesTable {
  id: Generated<number>;
  product_id: string;
  original_id: number;
  duplicate_product_id: string;
  duplicate_original_id: number;
  phash_distance: number;
  dhash_distance: number;
  created_at: Timestamp;
}

export interface ProductImagesTable {
  id: Generated<number>;
  product_id: string;
  sequence: number;
  variant: string;
  object_key: string;
  format: string;
  width: number;
  height: number;
  bytes: number;
  created_at: Timestamp;
  ai_generated: ColumnType<boolean | number, boolean | undefined, boolean>;
  needs_attention: ColumnType<boolean | number, boolean | undefined, boolean>;
  guardrail: ColumnType<unknown, string | null | undefined, string | null>;
}

export interface EnhancementHistoryTable {
  id: Generated<number>;
  product_id: string;
  sequence: number | null;
  event: string;
  from_status: string | null;
  to_status: string | null;
  mode: string | null;
  variant: string | null;
  source_key: string | null;
  source_url: string | null;
  output_key: string | null;
  output_url: string | null;
  source_bytes: number | null;
  output_bytes: number | null;
  source_width: number | null;
  source_height: number | null;
  output_width: number | null;
  output_height: number | null;
  quality_metadata: JsonColumn;
  size_metadata: JsonColumn;
  processing_ms: number | null;
  status: string;
  model_version: string | null;
  external_response_id: string | null;
  error: string | null;
  actor: ColumnType<string | null, string | null | undefined, string | null>;
  token_usage: ColumnType<unknown, string | null | undefined, string | null>;
  details: ColumnType<unknown, string | null | undefined, string | null>;
  reason: ColumnType<string | null, string | null | undefined, string | null>;
  created_at: Timestamp;
}

/** A named lease (`schema/003_…`): who holds it, until when. */
export interface LeasesTable {
  name: string;
  holder: string | null;
  expires_at: Date | null;
}

export interface SchemaMigrationsTable {
  version: string;
  checksum: string;
  applied_at: Timestamp;
}

/** One row (id 1): which migration runner holds the lock, until when (see `schema/migrate.ts`). */
export interface SchemaMigrationLockTable {
  id: number;
  owner: string | null;
  expires_at: Date | null;
  renewals: Generated<number>;
}

/** An open dashboard's WebSocket connection (`schema/006_…`). */
export interface PushConnectionsTable {
  connection_id: string;
  user_id: string;
  reviewer: ColumnType<boolean | number, boolean, boolean>;
  connected_at: Timestamp;
  expires_at: Timestamp;
}

export interface Database {
  products: ProductsTable;
  product_uploads: ProductUploadsTable;
  product_originals: ProductOriginalsTable;
  product_images: ProductImagesTable;
  product_duplicates: ProductDuplicatesTable;
  enhancement_history: EnhancementHistoryTable;
  leases: LeasesTable;
  schema_migrations: SchemaMigrationsTable;
  schema_migration_lock: SchemaMigrationLockTable;
  push_connections: PushConnectionsTable;
}

export type Db = Kysely<Database>;

/**
 * A JSON column's value, parsed. mysql2 parses MySQL 8's JSON type and, from MariaDB's column metadata, its
 * JSON alias (LONGTEXT), and the Data API dialect parses what the Data API sends as text; an older driver or
 * a plain text column still hands over text, which this parses.
 */
export const readJson = (value: unknown): unknown => (typeof value === "string" ? JSON.parse(value) : value);

const MYSQL_DUPLICATE_ENTRY = 1062;

/**
 * The Data API reports a statement the database refused as HTTP 400 with the database's own message and the
 * SQLState appended, e.g. `DatabaseErrorException: ERROR: cannot drop schema test because other objects
 * depend on it; …; SQLState: 2BP01` (drizzle-orm#4747, Aurora PostgreSQL); the Data API v1 (Aurora
 * Serverless v1) raised the same text as `BadRequestException` (sqlalchemy-aurora-data-api#46). For Aurora
 * MySQL a duplicate key is therefore "Duplicate entry 'MUG-1' for key 'products.uq_products_sku'; SQLState:
 * 23000". The error has no errno field, and SQLState 23000 also covers foreign-key and NOT NULL violations,
 * so it is MySQL's ER_DUP_ENTRY (1062) message text that tells a duplicate key apart.
 */
const DATA_API_STATEMENT_ERRORS = new Set(["DatabaseErrorException", "BadRequestException"]);
const DUPLICATE_ENTRY_MESSAGE = /\bDuplicate entry '.*' for key \S/s;

/** A unique-key violation, from mysql2 (errno 1062) or from the Data API (its message; see above). */
export const isDuplicateKeyError = (error: unknown): boolean => {
  if (typeof error !== "object" || error === null) return false;
  if ("errno" in error && error.errno === MYSQL_DUPLICATE_ENTRY) return true;
  return (
    "name" in error &&
    typeof error.name === "string" &&
    DATA_API_STATEMENT_ERRORS.has(error.name) &&
    "message" in error &&
    typeof error.message === "string" &&
    DUPLICATE_ENTRY_MESSAGE.test(error.message)
  );
};

export interface MysqlOptions {
  /** Pool size; one Lambda handles one event at a time, the local stack a few. */
  connectionLimit?: number;
}

/** A Kysely handle over mysql2 for a `mysql://user:password@host:port/database` URL. */
export const createMysqlDb = (databaseUrl: string, options: MysqlOptions = {}): Db =>
  new Kysely<Database>({
    dialect: new MysqlDialect({
      pool: createPool({
        uri: databaseUrl,
        connectionLimit: options.connectionLimit ?? 5,
        timezone: "Z",
        dateStrings: false,
        supportBigNumbers: true,
        bigNumberStrings: false,
        decimalNumbers: false,
        charset: "utf8mb4",
      }),
    }),
  });

export interface DataApiOptions {
  /** The Kysely handle owns the client: `db.destroy()` destroys it. */
  client: RDSDataClient;
  /** The Aurora cluster's ARN (`DATABASE_CLUSTER_ARN`). */
  resourceArn: string;
  /** The Secrets Manager secret with the database user's credentials (`DATABASE_SECRET_ARN`). */
  secretArn: string;
  /** The database (schema) on the cluster (`DATABASE_NAME`). */
  database: string;
}

/** A Kysely handle over the RDS Data API: the same `Db`, rows of the same types, as `createMysqlDb`. */
export const createDataApiDb = (options: DataApiOptions): Db =>
  new Kysely<Database>({ dialect: new DataApiMysqlDialect(options) });

/** Creates the database named in the URL if it is missing (the local stack and tests start from nothing). */
export const ensureDatabase = async (databaseUrl: string): Promise<void> => {
  const url = new URL(databaseUrl);
  const name = decodeURIComponent(url.pathname.replace(/^\//, ""));
  if (!/^[A-Za-z0-9_]+$/.test(name)) {
    throw new Error(`DATABASE_URL must name a database of letters, digits and '_' (got '${name}')`);
  }
  url.pathname = "/";
  const server = createPool({ uri: url.toString(), connectionLimit: 1 }).promise();
  try {
    await server.query(
      `CREATE DATABASE IF NOT EXISTS \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`,
    );
  } finally {
    await server.end();
  }
};

export const dropDatabase = async (databaseUrl: string): Promise<void> => {
  const url = new URL(databaseUrl);
  const name = decodeURIComponent(url.pathname.replace(/^\//, ""));
  url.pathname = "/";
  const server = createPool({ uri: url.toString(), connectionLimit: 1 }).promise();
  try {
    await server.query(`DROP DATABASE IF EXISTS \`${name}\``);
  } finally {
    await server.end();
  }
};
