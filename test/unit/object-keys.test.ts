import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { decodeEventKey, enhancedKey, parseRawKey, rawKey } from "../../lambdas/domain/object-keys.ts";
import { UPLOAD_EXTENSIONS } from "../../lambdas/domain/upload-types.ts";

const productId = "3f2b8c1e-5d4a-4b6f-9e7d-0a1b2c3d4e5f";
const uploadId = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d";

describe("raw object keys", () => {
  it("writes raw/{productId}/{uploadId}.{ext}", () => {
    expect(rawKey({ productId, uploadId, extension: "jpg" })).toBe(`raw/${productId}/${uploadId}.jpg`);
  });

  it("parses back every key it writes, for every upload extension", () => {
    for (const extension of UPLOAD_EXTENSIONS) {
      const ids = { productId: randomUUID(), uploadId: randomUUID(), extension };
      expect(parseRawKey(rawKey(ids))).toEqual(ids);
    }
  });

  it.each([
    ["another prefix", `enhanced/${productId}/${uploadId}.jpg`],
    ["no prefix", `${productId}/${uploadId}.jpg`],
    ["a leading slash", `/raw/${productId}/${uploadId}.jpg`],
    ["a product id that is not a UUID", `raw/product-1/${uploadId}.jpg`],
    ["an upload id that is not a UUID", `raw/${productId}/photo.jpg`],
    ["an upper-case UUID", `raw/${productId.toUpperCase()}/${uploadId}.jpg`],
    ["an unknown extension", `raw/${productId}/${uploadId}.svg`],
    ["a spelling of an extension this pipeline never issues", `raw/${productId}/${uploadId}.jpeg`],
    ["an upper-case extension", `raw/${productId}/${uploadId}.JPG`],
    ["no extension", `raw/${productId}/${uploadId}`],
    ["a double extension", `raw/${productId}/${uploadId}.jpg.png`],
    ["path traversal", "raw/../x"],
    ["path traversal after the product", `raw/${productId}/../${uploadId}.jpg`],
    ["an extra segment", `raw/${productId}/${uploadId}/${uploadId}.jpg`],
    ["a trailing segment", `raw/${productId}/${uploadId}.jpg/x`],
    ["a trailing newline", `raw/${productId}/${uploadId}.jpg\n`],
    ["the empty string", ""],
  ])("refuses %s", (_what, key) => {
    expect(parseRawKey(key)).toBeUndefined();
  });
});

describe("S3 event keys", () => {
  it("decodes form-style encoding: '+' is a space and %2B is a plus", () => {
    expect(decodeEventKey("raw/a+b%2Bc.jpg")).toBe("raw/a b+c.jpg");
  });

  it("decodes percent-encoded UTF-8 and leaves a plain key alone", () => {
    expect(decodeEventKey("raw/caf%C3%A9.jpg")).toBe("raw/café.jpg");
    const key = rawKey({ productId, uploadId, extension: "png" });
    expect(decodeEventKey(key)).toBe(key);
  });
});

describe("enhanced object keys", () => {
  it("writes enhanced/{productId}/{sequence}/{variant}.{ext}", () => {
    expect(enhancedKey(productId, 3, "standard", "jpg")).toBe(`enhanced/${productId}/3/standard.jpg`);
    expect(enhancedKey(productId, 12, "thumb", "webp")).toBe(`enhanced/${productId}/12/thumb.webp`);
  });
});
