import { describe, expect, it } from "vitest";
import { AppError } from "../../lambdas/domain/errors.ts";
import { toHundredths } from "../../lambdas/domain/money.ts";
import {
  createUploadSchema,
  formatPath,
  parseCreateProducts,
  parseRequest,
} from "../../lambdas/domain/product-input.ts";

const product = (overrides: Record<string, unknown> = {}): Record<string, unknown> => ({
  sku: "MUG-001",
  title: "Stoneware mug",
  category: "kitchen",
  mrp: "120.00",
  price: "99.00",
  gst: "18",
  contentType: "image/jpeg",
  ...overrides,
});

const withoutKey = (record: Record<string, unknown>, key: string): Record<string, unknown> =>
  Object.fromEntries(Object.entries(record).filter(([name]) => name !== key));

/**
 * Runs parseCreateProducts (what POST /products uses) and returns the AppError it throws;
 * fails the test if it does not throw one.
 */
const validationError = (body: unknown): AppError => {
  try {
    parseCreateProducts(body);
  } catch (error) {
    if (error instanceof AppError) return error;
    throw error;
  }
  throw new Error("expected parseCreateProducts to throw an AppError");
};

const detailsByPath = (error: AppError): Map<string, string[]> => {
  const byPath = new Map<string, string[]>();
  for (const { path, message } of error.details) byPath.set(path, [...(byPath.get(path) ?? []), message]);
  return byPath;
};

describe("money", () => {
  it("reads a decimal string as exact integer hundredths", () => {
    expect(toHundredths("12.3")).toBe(1230n);
    expect(toHundredths("12")).toBe(1200n);
    expect(toHundredths("0.05")).toBe(5n);
    expect(toHundredths("99999999.99")).toBe(9999999999n);
  });

  it("compares large and fractional amounts exactly, unlike floats", () => {
    expect(toHundredths("99999999.99") - toHundredths("99999999.98")).toBe(1n);
    expect(toHundredths("99999999.99") > toHundredths("99999999.98")).toBe(true);
    // 0.1 + 0.2 !== 0.3 as floats; in hundredths it is exact.
    expect(toHundredths("0.1") + toHundredths("0.2")).toBe(toHundredths("0.3"));
  });
});

describe("formatPath", () => {
  it("writes array indices in brackets and object keys with dots", () => {
    expect(formatPath(["products", 3, "price"])).toBe("products[3].price");
    expect(formatPath(["products"])).toBe("products");
    expect(formatPath([])).toBe("");
  });
});

describe("bulk product request", () => {
  it("parses a valid request and normalises money to two-decimal strings", () => {
    const parsed = parseCreateProducts({
      products: [
        product({ sku: "A-1", mrp: 120, price: "99.5", gst: 18 }),
        product({ sku: "B.2", mrp: "19.99", price: 19.99, discount: "5", gst: "0" }),
      ],
    });
    expect(parsed).toEqual({
      products: [
        {
          sku: "A-1",
          title: "Stoneware mug",
          category: "kitchen",
          mrp: "120.00",
          price: "99.50",
          discount: "0.00",
          gst: "18.00",
          contentType: "image/jpeg",
        },
        {
          sku: "B.2",
          title: "Stoneware mug",
          category: "kitchen",
          mrp: "19.99",
          price: "19.99",
          discount: "5.00",
          gst: "0.00",
          contentType: "image/jpeg",
        },
      ],
    });
  });

  it("trims text fields", () => {
    const parsed = parseCreateProducts({
      products: [product({ sku: "  MUG-9 ", title: " Mug ", category: " kitchen\n" })],
    });
    expect(parsed.products[0]).toMatchObject({ sku: "MUG-9", title: "Mug", category: "kitchen" });
  });

  it("accepts a price equal to the mrp, and the largest amount", () => {
    const parsed = parseCreateProducts({
      products: [product({ mrp: "99999999.99", price: "99999999.99" })],
    });
    expect(parsed.products[0]).toMatchObject({ mrp: "99999999.99", price: "99999999.99" });
  });

  it("names every bad field of every bad product at once", () => {
    const error = validationError({
      products: [
        product({ sku: "OK-0" }),
        withoutKey(product({ sku: "NO-TITLE" }), "title"),
        product({ sku: "THREE-DP", price: "1.234" }),
        product({ sku: "NEG-MRP", mrp: -5 }),
        product({ sku: "OVER-MRP", mrp: "100", price: "150.5" }),
        product({ sku: "SVG", contentType: "image/svg+xml" }),
        product({ sku: "EXTRA", colour: "red" }),
      ],
    });

    expect(error.code).toBe("VALIDATION_FAILED");
    expect(error.httpStatus).toBe(400);
    expect(error.message).toBe("the request has 6 invalid field(s)");
    const byPath = detailsByPath(error);
    expect([...byPath.keys()].sort()).toEqual(
      [
        "products[1].title",
        "products[2].price",
        "products[3].mrp",
        "products[4].price",
        "products[5].contentType",
        "products[6].colour",
      ].sort(),
    );
    expect(byPath.get("products[1].title")).toEqual(["is required"]);
    expect(byPath.get("products[2].price")).toEqual([
      "must be a non-negative decimal with at most 2 decimal places",
    ]);
    expect(byPath.get("products[3].mrp")).toEqual([
      "must be a non-negative decimal with at most 2 decimal places",
    ]);
    expect(byPath.get("products[4].price")).toEqual(["must not exceed mrp (100.00)"]);
    expect(byPath.get("products[5].contentType")).toEqual([
      "must be one of image/jpeg, image/png, image/webp, image/avif, image/tiff, image/gif",
    ]);
    expect(byPath.get("products[6].colour")).toEqual(["is not a known field"]);
  });

  it("refuses zero prices and amounts beyond the column", () => {
    const error = validationError({
      products: [product({ price: "0", mrp: "100000000", discount: "100.01", gst: "abc" })],
    });
    expect(error.details).toEqual([
      { path: "products[0].mrp", message: "must be at most 99999999.99" },
      { path: "products[0].price", message: "must be greater than 0" },
      { path: "products[0].discount", message: "must be at most 100" },
      { path: "products[0].gst", message: "must be a non-negative decimal with at most 2 decimal places" },
    ]);
  });

  it("compares price and mrp exactly at the largest amounts", () => {
    const error = validationError({
      products: [product({ mrp: "99999999.98", price: "99999999.99" })],
    });
    expect(error.details).toEqual([
      { path: "products[0].price", message: "must not exceed mrp (99999999.98)" },
    ]);
  });

  it("refuses an empty list and one over the limit, naming `products`", () => {
    expect(validationError({ products: [] }).details).toEqual([
      { path: "products", message: "must contain at least 1 product" },
    ]);
    // The API promises up to 500 products per request (README, DESIGN.md).
    const tooMany = Array.from({ length: 501 }, (_, index) => product({ sku: `SKU-${index}` }));
    expect(validationError({ products: tooMany }).details).toEqual([
      { path: "products", message: "must contain at most 500 products" },
    ]);
  });

  it("accepts exactly 500 products", () => {
    const products = Array.from({ length: 500 }, (_, index) => product({ sku: `SKU-${index}` }));
    expect(parseCreateProducts({ products }).products).toHaveLength(500);
  });

  it("refuses a body whose products is not an array, and unknown top-level fields", () => {
    expect(validationError({ products: "many" }).details).toEqual([
      { path: "products", message: "must be an array of products" },
    ]);
    expect(validationError({ products: [product()], dryRun: true }).details).toEqual([
      { path: "dryRun", message: "is not a known field" },
    ]);
  });

  it("refuses a duplicate sku, naming the later index and the first one", () => {
    const error = validationError({
      products: [product({ sku: "A" }), product({ sku: "B" }), product({ sku: " A " })],
    });
    expect(error.details).toEqual([{ path: "products[2].sku", message: "duplicates products[0].sku (A)" }]);
  });

  it("treats skus that differ only in case as duplicates, as the database's unique key does", () => {
    const error = validationError({ products: [product({ sku: "mug-1" }), product({ sku: "MUG-1" })] });
    expect(error.details).toEqual([
      { path: "products[1].sku", message: "duplicates products[0].sku (MUG-1)" },
    ]);
  });

  it("reports a duplicate sku alongside the other products' problems", () => {
    const error = validationError({
      products: [product({ sku: "A" }), product({ sku: "B", price: "1.234" }), product({ sku: "A" })],
    });
    expect(error.details).toEqual([
      { path: "products[1].price", message: "must be a non-negative decimal with at most 2 decimal places" },
      { path: "products[2].sku", message: "duplicates products[0].sku (A)" },
    ]);
  });

  it("reports price > mrp even when the same product has another bad field", () => {
    const error = validationError({
      products: [product({ mrp: "100", price: "200", contentType: "image/svg+xml" })],
    });
    expect(detailsByPath(error).get("products[0].price")).toEqual(["must not exceed mrp (100.00)"]);
    expect([...detailsByPath(error).keys()].sort()).toEqual(["products[0].contentType", "products[0].price"]);
  });

  it.each([
    ["null", null],
    ["a string", "MUG-1"],
    ["a number", 42],
  ])("refuses a product that is %s with a 400 naming it", (_what, item) => {
    const error = validationError({ products: [product(), item] });
    expect(error.details.map(({ path }) => path)).toEqual(["products[1]"]);
  });
});

describe("upload request", () => {
  it("accepts a supported content type and refuses anything else", () => {
    expect(parseRequest(createUploadSchema, { contentType: "image/webp" })).toEqual({
      contentType: "image/webp",
    });
    try {
      parseRequest(createUploadSchema, { contentType: "image/heic" });
      expect.unreachable("image/heic should be refused");
    } catch (error) {
      expect(error).toBeInstanceOf(AppError);
      expect((error as AppError).details).toEqual([
        {
          path: "contentType",
          message: "must be one of image/jpeg, image/png, image/webp, image/avif, image/tiff, image/gif",
        },
      ]);
    }
  });
});
