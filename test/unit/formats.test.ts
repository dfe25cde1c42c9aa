import { readFile } from "node:fs/promises";
import sharp from "sharp";
import { beforeAll, describe, expect, it } from "vitest";
import { extensionFor } from "../../lambdas/domain/upload-types.ts";
import { describeUnsupported, sniffImageFormat } from "../../lambdas/engine/formats.ts";
import type { ImageFormat } from "../../lambdas/engine/vocabulary.ts";
import { CORPUS } from "../support/upload.ts";

const text = (value: string): Uint8Array => new TextEncoder().encode(value);

const tiny = () => sharp({ create: { width: 8, height: 8, channels: 3, background: "#f00" } });

const samples = {} as Record<ImageFormat, Uint8Array>;

beforeAll(async () => {
  samples.jpeg = await readFile(`${CORPUS}apple.jpg`);
  samples.png = await readFile(`${CORPUS}box.png`);
  samples.webp = await tiny().webp().toBuffer();
  samples.avif = await tiny().avif().toBuffer();
  samples.tiff = await tiny().tiff().toBuffer();
  samples.gif = await tiny().gif().toBuffer();
});

const pdf = text("%PDF-1.7\n%\u00e2\u00e3\u00cf\u00d3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n");
const svg = text('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>');
const svgWithProlog = text(
  '<?xml version="1.0" encoding="UTF-8"?>\n<!-- drawn by hand -->\n<svg width="10" height="10"></svg>',
);
/** An ISO-BMFF header as an iPhone writes it: 4 size bytes, then "ftypheic". */
const heic = Uint8Array.from([0x00, 0x00, 0x00, 0x18, ...text("ftypheic"), 0x00, 0x00, 0x00, 0x00]);
const plainText = text("sku,title,price\nMUG-1,Stoneware mug,99.00\n");
/** Deterministic bytes that include NUL and bytes above 0x7f, starting with none of the signatures. */
const randomBinary = Uint8Array.from({ length: 512 }, (_, index) => (index * 151 + 7) % 256);

describe("sniffImageFormat", () => {
  it.each(["jpeg", "png", "webp", "avif", "tiff", "gif"] as const)("recognises a real %s file", (format) => {
    expect(sniffImageFormat(samples[format])).toBe(format);
  });

  it("maps each accepted Content-Type to the extension raw keys use", () => {
    expect(
      (["image/jpeg", "image/png", "image/webp", "image/avif", "image/tiff", "image/gif"] as const).map(
        extensionFor,
      ),
    ).toEqual(["jpg", "png", "webp", "avif", "tiff", "gif"]);
  });

  it.each([
    ["text", plainText],
    ["a PDF", pdf],
    ["an SVG with a script", svg],
    ["an SVG with an XML prolog", svgWithProlog],
    ["a HEIC-like ftyp header", heic],
    ["an empty buffer", new Uint8Array(0)],
    ["random binary", randomBinary],
    ["a JPEG's first two bytes only", Uint8Array.from([0xff, 0xd8])],
  ])("returns undefined for %s", (_what, bytes) => {
    expect(sniffImageFormat(bytes)).toBeUndefined();
  });
});

describe("describeUnsupported", () => {
  it.each([
    ["a text file", plainText],
    ["a PDF file", pdf],
    ["an SVG file", svg],
    ["an SVG file", svgWithProlog],
    ["a HEIC file", heic],
    ["an empty file", new Uint8Array(0)],
    ["not an image", randomBinary],
  ])("names %s", (name, bytes) => {
    expect(describeUnsupported(bytes)).toBe(name);
  });
});
