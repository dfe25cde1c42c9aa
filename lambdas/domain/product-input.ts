import { z } from "zod";
import { AppError, type FieldProblem } from "./errors.ts";
import { toHundredths } from "./money.ts";
import { catalogueFieldsSchema } from "./product.ts";
import { UPLOAD_CONTENT_TYPES } from "./upload-types.ts";

export const MAX_PRODUCTS_PER_REQUEST = 500;

const contentTypes = Object.keys(UPLOAD_CONTENT_TYPES) as [keyof typeof UPLOAD_CONTENT_TYPES];

export const contentTypeField = z.enum(contentTypes, {
  error: `must be one of ${contentTypes.join(", ")}`,
});

export const newProductSchema = catalogueFieldsSchema
  .extend({
    contentType: contentTypeField,
  })
  .strict()
  .refine((product) => toHundredths(product.price) <= toHundredths(product.mrp), {
    path: ["price"],
    error: (issue) => `must not exceed mrp (${(issue.input as { mrp: string }).mrp})`,
    // Compared whenever both amounts are valid, even if other fields are not: the 400 names every problem.
    when: (payload) =>
      typeof payload.value === "object" &&
      payload.value !== null &&
      !payload.issues.some((issue) => issue.path?.[0] === "price" || issue.path?.[0] === "mrp"),
  });

export type NewProduct = z.output<typeof newProductSchema>;

export const createProductsSchema = z
  .object({
    products: z
      .array(newProductSchema, { error: "must be an array of products" })
      .min(1, "must contain at least 1 product")
      .max(MAX_PRODUCTS_PER_REQUEST, `must contain at most ${MAX_PRODUCTS_PER_REQUEST} products`),
  })
  .strict();

/** Skus are unique regardless of case, as the database's unique key sees them. */
export const skuIdentity = (sku: string): string => sku.trim().toLowerCase();

/**
 * A sku twice in one request is an error of the later item. Checked on the raw body, beside the schema,
 * because zod skips refinements of an array whose items already failed, and the 400 must name every problem.
 */
const duplicateSkuProblems = (body: unknown): FieldProblem[] => {
  const items = (body as { products?: unknown } | null)?.products;
  if (!Array.isArray(items)) return [];
  const firstIndexBySku = new Map<string, number>();
  return items.flatMap((item, index) => {
    const sku = (item as { sku?: unknown } | null)?.sku;
    if (typeof sku !== "string" || sku.trim() === "") return [];
    // The unique key compares skus case-insensitively (utf8mb4_unicode_ci), so this does too.
    const identity = skuIdentity(sku);
    const first = firstIndexBySku.get(identity);
    if (first === undefined) {
      firstIndexBySku.set(identity, index);
      return [];
    }
    return [{ path: `products[${index}].sku`, message: `duplicates products[${first}].sku (${sku.trim()})` }];
  });
};

export const createUploadSchema = z.object({ contentType: contentTypeField }).strict();

/** `["products", 3, "price"]` → `products[3].price`, the form the API's error details use. */
export const formatPath = (path: readonly PropertyKey[]): string =>
  path.reduce<string>((text, part) => {
    if (typeof part === "number") return `${text}[${part}]`;
    return text ? `${text}.${String(part)}` : String(part);
  }, "");

const problemsOf = (error: z.ZodError): FieldProblem[] =>
  error.issues.flatMap((issue) => {
    if (issue.code === "unrecognized_keys") {
      return issue.keys.map((key) => ({
        path: formatPath([...issue.path, key]),
        message: "is not a known field",
      }));
    }
    const message =
      issue.message === "Invalid input: expected string, received undefined" ? "is required" : issue.message;
    return [{ path: formatPath(issue.path) || "(body)", message }];
  });

const validationFailed = (details: FieldProblem[]) =>
  new AppError("VALIDATION_FAILED", `the request has ${details.length} invalid field(s)`, details);

/**
 * Validates a request body, naming every bad field at once rather than the first; `at` places a part of the
 * body in the whole (`reviews[3]`), so its problems name the field as the client sent it.
 */
export const parseRequest = <Schema extends z.ZodType>(
  schema: Schema,
  body: unknown,
  at: readonly PropertyKey[] = [],
): z.output<Schema> => {
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  const problems = problemsOf(result.error);
  if (at.length === 0) throw validationFailed(problems);
  const prefix = formatPath(at);
  throw validationFailed(
    problems.map((problem) => ({
      ...problem,
      path:
        problem.path === "(body)"
          ? prefix
          : `${prefix}${problem.path.startsWith("[") ? "" : "."}${problem.path}`,
    })),
  );
};

export const parseCreateProducts = (body: unknown): z.output<typeof createProductsSchema> => {
  const result = createProductsSchema.safeParse(body);
  const details = [...(result.success ? [] : problemsOf(result.error)), ...duplicateSkuProblems(body)];
  if (details.length > 0 || !result.success) throw validationFailed(details);
  return result.data;
};
