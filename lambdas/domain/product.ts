import { z } from "zod";
import { decimalField } from "./money.ts";
import { PRODUCT_STATUSES } from "./product-status.ts";

/**
 * A product's fields, declared once. The stored row (`ProductsTable`, snake_case columns), the port's
 * `Product` and the API's `ProductJson` are all derived from this schema, and `productFromRow` /
 * `productToRow` / `productJson` are the only places that map between them.
 */

/** What a seller sets when creating a product, validated where it enters. */
export const catalogueFieldsSchema = z.object({
  sku: z
    .string({ error: "is required" })
    .trim()
    .min(1, "must not be empty")
    .max(64, "must be at most 64 characters")
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, "may contain only letters, digits, '.', '_' and '-'"),
  title: z
    .string({ error: "is required" })
    .trim()
    .min(1, "must not be empty")
    .max(200, "must be at most 200 characters"),
  category: z
    .string({ error: "is required" })
    .trim()
    .min(1, "must not be empty")
    .max(100, "must be at most 100 characters"),
  mrp: decimalField({ max: "99999999.99", allowZero: false }),
  price: decimalField({ max: "99999999.99", allowZero: false }),
  discount: decimalField({ max: "100", allowZero: true }).default("0.00"),
  gst: decimalField({ max: "100", allowZero: true }),
});

export type CatalogueFields = z.output<typeof catalogueFieldsSchema>;

/** A stored product: the catalogue fields and what the pipeline keeps about it. */
export const productSchema = catalogueFieldsSchema.extend({
  id: z.uuid(),
  /** The subject (`sub`) of the seller's token: the one seller who may change the product. */
  sellerId: z.string(),
  status: z.enum(PRODUCT_STATUSES),
  statusReason: z.string().nullable(),
  /** When the product entered its status: how long a product has waited for review. */
  statusChangedAt: z.date(),
  /** The variant the reviewer chose as the product's main image when approving it. */
  mainImage: z.string().nullable(),
  /** The newest enhancement sequence started for it (0 before the first photo). */
  lastSequence: z.number().int(),
  /** Optimistic concurrency: every change bumps it, and a write names the version it read. */
  version: z.number().int(),
  createdAt: z.date(),
  updatedAt: z.date(),
});

export type Product = z.output<typeof productSchema>;

export const PRODUCT_FIELDS = Object.keys(productSchema.shape) as (keyof Product)[];

/** `statusReason` → `status_reason`, at the type level. */
type SnakeCase<Name extends string> = Name extends `${infer Head}${infer Tail}`
  ? `${Head extends Lowercase<Head> ? Head : `_${Lowercase<Head>}`}${SnakeCase<Tail>}`
  : Name;

/** An object's camelCase fields as snake_case columns. */
export type RowOf<Fields> = { [Name in keyof Fields & string as SnakeCase<Name>]: Fields[Name] };

export type ProductRow = RowOf<Product>;

const column = (field: string): string => field.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);

export const productFromRow = (row: ProductRow): Product =>
  Object.fromEntries(
    PRODUCT_FIELDS.map((field) => [field, (row as Record<string, unknown>)[column(field)]]),
  ) as Product;

export const productToRow = (product: Product): ProductRow =>
  Object.fromEntries(PRODUCT_FIELDS.map((field) => [column(field), product[field]])) as ProductRow;

/** A value as JSON carries it: dates become ISO text. */
export type Json<Fields> = { [Name in keyof Fields]: Fields[Name] extends Date ? string : Fields[Name] };

/** The product as the API shows it: no concurrency version, the sequence under its API name. */
export type ProductJson = Json<Omit<Product, "version" | "lastSequence">> & { sequence: number };

export const productJson = (product: Product): ProductJson => {
  const { version: _version, lastSequence, createdAt, updatedAt, statusChangedAt, ...fields } = product;
  return {
    ...fields,
    sequence: lastSequence,
    statusChangedAt: statusChangedAt.toISOString(),
    createdAt: createdAt.toISOString(),
    updatedAt: updatedAt.toISOString(),
  };
};
