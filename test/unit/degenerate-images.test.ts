import sharp from "sharp";
import { describe, expect, it } from "vitest";
import { IMAGE_LIMITS, ImageError, renderImage } from "../../lambdas/engine/index.ts";
import { DEFAULT_VARIANT_SET, type VariantSpec } from "../../lambdas/engine/variant-spec.ts";
import { MODES } from "../../lambdas/engine/vocabulary.ts";

/**
 * Valid images of shapes no camera makes: each either gets its variants (with a reason for any the
 * engine declines) or is refused at once with a reason naming its size. Nothing on the way may produce
 * a NaN or an infinite number: sharp would reject it as a fault, which would look transient.
 */

const MAX_PIXELS = 100_000_000;

/** Every mode once, and the lossy formats with targets, so each code path meets each shape. */
const EVERY_MODE: VariantSpec[] = [
  ...MODES.map((mode) => ({ name: mode.toLowerCase().replace(/_/g, "-"), mode, format: "jpeg" as const })),
  { name: "cutout", mode: "BACKGROUND_REMOVE", format: "png" },
  { name: "small-webp", mode: "OPTIMIZE", format: "webp", targetKb: 50 },
  { name: "hero-avif", mode: "FULL", format: "avif", targetKb: 50 },
];

const flat = (
  width: number,
  height: number,
  background: string | { r: number; g: number; b: number; alpha: number },
  channels: 3 | 4 = 3,
) => sharp({ create: { width, height, channels, background } });

/** Every number anywhere in the result, with its path, that is not finite. */
const nonFiniteNumbers = (value: unknown, path = "result"): string[] => {
  if (typeof value === "number") return Number.isFinite(value) ? [] : [`${path} = ${value}`];
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) return [];
  if (Array.isArray(value))
    return value.flatMap((item, index) => nonFiniteNumbers(item, `${path}[${index}]`));
  if (typeof value === "object" && value !== null) {
    return Object.entries(value).flatMap(([key, item]) => nonFiniteNumbers(item, `${path}.${key}`));
  }
  return [];
};

const PRODUCING: [string, () => Promise<Buffer>, { width: number; height: number }][] = [
  ["a single flat colour", () => flat(800, 600, "#3366aa").jpeg().toBuffer(), { width: 800, height: 600 }],
  ["an all-white frame", () => flat(800, 600, "#ffffff").jpeg().toBuffer(), { width: 800, height: 600 }],
  ["an all-black frame", () => flat(800, 600, "#000000").jpeg().toBuffer(), { width: 800, height: 600 }],
  [
    "a fully transparent PNG",
    () => flat(640, 480, { r: 0, g: 0, b: 0, alpha: 0 }, 4).png().toBuffer(),
    { width: 640, height: 480 },
  ],
  [
    "the smallest accepted square",
    () => flat(IMAGE_LIMITS.minSide, IMAGE_LIMITS.minSide, "#aa3333").png().toBuffer(),
    { width: IMAGE_LIMITS.minSide, height: IMAGE_LIMITS.minSide },
  ],
  [
    "the longest accepted strip",
    () =>
      flat(IMAGE_LIMITS.minSide * IMAGE_LIMITS.maxAspectRatio, IMAGE_LIMITS.minSide, "#808080")
        .png()
        .toBuffer(),
    { width: IMAGE_LIMITS.minSide * IMAGE_LIMITS.maxAspectRatio, height: IMAGE_LIMITS.minSide },
  ],
];

describe("degenerate but valid images", () => {
  describe.each(PRODUCING)("%s", (_, make, size) => {
    it.each([
      ["the default set", DEFAULT_VARIANT_SET],
      ["every mode", EVERY_MODE],
    ])("produces %s, each variant made or skipped with its reason", async (_set, specs) => {
      const result = await renderImage(await make(), { variants: specs, maxPixels: MAX_PIXELS });
      expect(result.original).toMatchObject(size);
      expect(nonFiniteNumbers(result)).toEqual([]);
      expect(result.variants.map((variant) => variant.spec.name)).toEqual(specs.map((spec) => spec.name));
      for (const variant of result.variants) {
        if (variant.kind === "skipped") {
          expect(variant.reason, variant.spec.name).toMatch(/\w{3,}/);
          continue;
        }
        expect(variant.encoded.width, variant.spec.name).toBeGreaterThanOrEqual(1);
        expect(variant.encoded.height, variant.spec.name).toBeGreaterThanOrEqual(1);
        const decoded = await sharp(variant.encoded.body).metadata();
        expect(decoded, variant.spec.name).toMatchObject({
          width: variant.encoded.width,
          height: variant.encoded.height,
        });
      }
      // A uniform frame has no product to centre: STANDARDIZE declines rather than inventing one.
      const standard = result.variants.find((variant) => variant.spec.mode === "STANDARDIZE");
      expect(standard).toMatchObject({
        kind: "skipped",
        reason: "no product stands out from the background: the frame is one flat colour",
      });
      // Everything that is not a profile or a cut-out still comes out: the product can reach review.
      const made = result.variants.filter((variant) => variant.kind === "rendered").map((v) => v.spec.mode);
      expect(made).toEqual(expect.arrayContaining(["AUTO", "OPTIMIZE"]));
    });
  });

  it.each([
    [
      "a 1×1 pixel",
      () => flat(1, 1, "#808080").png().toBuffer(),
      "the photo is 1×1 px; at least 16 px is needed on each side",
    ],
    [
      "a greyscale 2×2",
      () =>
        sharp(Buffer.from([0, 255, 255, 0]), { raw: { width: 2, height: 2, channels: 1 } })
          .png()
          .toBuffer(),
      "the photo is 2×2 px; at least 16 px is needed on each side",
    ],
    [
      "a 10000×3 strip",
      () => flat(10000, 3, "#808080").png().toBuffer(),
      "the photo is 10000×3 px; at least 16 px is needed on each side",
    ],
    [
      "a 3×10000 strip",
      () => flat(3, 10000, "#808080").png().toBuffer(),
      "the photo is 3×10000 px; at least 16 px is needed on each side",
    ],
    [
      "a 4000×20 strip, 200 times longer than wide",
      () => flat(4000, 20, "#808080").png().toBuffer(),
      "the photo is 4000×20 px, 200 times longer than it is wide; at most 100:1 can be made into images",
    ],
  ])("refuses %s at once, naming its size", async (_, make, message) => {
    const rendering = renderImage(await make(), { variants: EVERY_MODE, maxPixels: MAX_PIXELS });
    await expect(rendering).rejects.toThrow(ImageError);
    await expect(rendering).rejects.toMatchObject({ problem: "TOO_SMALL", message });
  });

  it("reports an engine fault on a valid image as an ImageError, never as a plain error", async () => {
    // An impossible variant (a name the engine accepts, a mode it has no branch for) stands in for any
    // failure inside the engine: whatever it is, the caller gets an ImageError it need not retry.
    const broken = [{ name: "broken", mode: "NO_SUCH_MODE", format: "jpeg" }] as unknown as VariantSpec[];
    const rendering = renderImage(await flat(64, 64, "#123456").png().toBuffer(), {
      variants: broken,
      maxPixels: MAX_PIXELS,
    });
    await expect(rendering).rejects.toMatchObject({
      name: "ImageError",
      problem: "UNPROCESSABLE",
      message: "the engine failed on this 64×64 png image",
    });
  });
});
