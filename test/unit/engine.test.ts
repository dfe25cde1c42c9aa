import { readFile } from "node:fs/promises";
import sharp from "sharp";
import { beforeAll, describe, expect, it } from "vitest";
import { decodeMaster, readHeader } from "../../lambdas/engine/decode.ts";
import { applyMode, type ModeContext, planAuto, standardCanvas } from "../../lambdas/engine/modes.ts";
import { PROFILES } from "../../lambdas/engine/profiles.ts";
import { assessBackground, assessQuality } from "../../lambdas/engine/quality.ts";
import { type RawImage, toRaw } from "../../lambdas/engine/raw-image.ts";
import { type RenderedVariant, renderVariantSet } from "../../lambdas/engine/render.ts";
import { DEFAULT_VARIANT_SET, type VariantSpec } from "../../lambdas/engine/variant-spec.ts";
import { CORPUS } from "../support/upload.ts";

const MAX_PIXELS = 100_000_000;

const load = async (file: string, maxSide = 2000): Promise<RawImage> =>
  toRaw(
    sharp(`${CORPUS}${file}`)
      .autoOrient()
      .resize({ width: maxSide, height: maxSide, fit: "inside", withoutEnlargement: true })
      .toColourspace("srgb"),
  );

const contextFor = async (image: RawImage, extra: Partial<ModeContext> = {}): Promise<ModeContext> => ({
  analysis: Promise.resolve({
    quality: await assessQuality(image),
    background: await assessBackground(image),
  }),
  keepAlpha: false,
  ...extra,
});

const rendered = (result: Awaited<ReturnType<typeof applyMode>>): RawImage => {
  if (result.kind !== "rendered") throw new Error(`expected a rendered image, got skipped: ${result.reason}`);
  return result.image;
};

const pixel = (image: RawImage, x: number, y: number) => [
  ...image.data.subarray(
    (y * image.width + x) * image.channels,
    (y * image.width + x) * image.channels + image.channels,
  ),
];

const render = async (file: string | Buffer, specs: VariantSpec[]) => {
  const input = typeof file === "string" ? await readFile(`${CORPUS}${file}`) : file;
  const metadata = await sharp(input).metadata();
  const header = await readHeader(input, metadata.format === "jpeg" ? "jpeg" : "png", MAX_PIXELS);
  return renderVariantSet(input, header, specs, MAX_PIXELS);
};

const only = (variant: RenderedVariant | undefined) => {
  if (variant?.kind !== "rendered")
    throw new Error(`variant was skipped: ${variant?.kind === "skipped" ? variant.reason : "missing"}`);
  return variant;
};

/** A product on a flat, non-white backdrop: a corpus apple pasted on mid grey. */
let productOnGrey: Buffer;
beforeAll(async () => {
  const apple = await sharp(`${CORPUS}apple.jpg`)
    .resize(300, 300, { fit: "inside" })
    .extract({ left: 60, top: 60, width: 180, height: 180 })
    .toBuffer();
  productOnGrey = await sharp({
    create: { width: 900, height: 700, channels: 3, background: { r: 128, g: 132, b: 140 } },
  })
    .composite([{ input: apple, left: 360, top: 260 }])
    .jpeg({ quality: 92 })
    .toBuffer();
});

/** The decoded output's border pixels (corners and edge middles) of a square of `side`. */
const borderPixels = async (body: Buffer, side: number) => {
  const decoded = await sharp(body).raw().toBuffer({ resolveWithObject: true });
  const image: RawImage = { data: decoded.data, width: side, height: side, channels: 3 };
  const last = side - 1;
  const middle = Math.floor(side / 2);
  return [
    [0, 0],
    [last, 0],
    [0, last],
    [last, last],
    [middle, 0],
    [0, middle],
  ].map(([x, y]) => pixel(image, x as number, y as number));
};

describe("STANDARDIZE's canvas: no invented pixels", () => {
  it("is the profile's side when the product has the pixels, else the smallest side that passes, enlarging 2× at most", () => {
    const { amazon, shopify } = PROFILES;
    // 85% of 2000 is 1700 px: a product at least that long fills the preferred side.
    expect(standardCanvas(1800, amazon).side).toBe(2000);
    expect(standardCanvas(1700, amazon).side).toBe(2000);
    // Short of that: Amazon's smallest side, 1000, the product made smaller or enlarged up to 2× to fill 85% of it.
    expect(standardCanvas(1699, amazon).side).toBe(1000);
    expect(standardCanvas(1200, amazon).side).toBe(1000);
    expect(standardCanvas(600, amazon).side).toBe(1000);
    expect(standardCanvas(425, amazon).side).toBe(1000);
    // Under 425 px, 2× is not enough: the canvas shrinks (the compliance report says so), the fill stays.
    expect(standardCanvas(300, amazon).side).toBe(705);
    expect(standardCanvas(600, shopify).side).toBe(800);
    // A variant may ask for the full side whatever it takes.
    expect(standardCanvas(300, amazon, true).side).toBe(2000);
  });
});

describe("STANDARDIZE (amazon)", () => {
  it("yields a 2000×2000 sRGB JPEG for a photo with the pixels, white border, passing compliance", async () => {
    const result = await render("LadyBird.jpg", [
      { name: "standard", mode: "STANDARDIZE", profile: "amazon", format: "jpeg" },
    ]);
    const standard = only(result.variants[0]);
    expect(standard.encoded).toMatchObject({ format: "jpeg", width: 2000, height: 2000 });
    for (const colour of await borderPixels(standard.encoded.body, 2000))
      expect(colour).toEqual([255, 255, 255]);
    expect(standard.compliance?.pass, JSON.stringify(standard.compliance)).toBe(true);
    expect((await sharp(standard.encoded.body).metadata()).space).toBe("srgb");
  });

  it("frames a 512 px product on Amazon's smallest side, enlarged under 2×, and still passes", async () => {
    const result = await render("apple.jpg", [
      { name: "standard", mode: "STANDARDIZE", profile: "amazon", format: "jpeg" },
      { name: "full", mode: "STANDARDIZE", profile: "amazon", format: "jpeg", fullSide: true },
    ]);
    const standard = only(result.variants[0]);
    expect(standard.encoded).toMatchObject({ format: "jpeg", width: 1000, height: 1000 });
    const operation = standard.operations.find((step) => step.operation === "standardize");
    expect(operation?.parameters?.scale).toBeLessThanOrEqual(2);
    expect(operation?.reason).toContain("the smallest side amazon accepts");
    for (const colour of await borderPixels(standard.encoded.body, 1000))
      expect(colour).toEqual([255, 255, 255]);
    expect(standard.compliance?.pass, JSON.stringify(standard.compliance)).toBe(true);
    // Asked for, the full side: 4 times the pixels, 3.3× enlarged.
    const full = only(result.variants[1]);
    expect(full.encoded).toMatchObject({ width: 2000, height: 2000 });
    expect(full.compliance?.pass).toBe(true);
    expect(full.encoded.bytes).toBeGreaterThan(standard.encoded.bytes);
  });

  it("enlarges a tiny product 2× at most, and the report says the side is short", async () => {
    const result = await render("box.png", [
      { name: "standard", mode: "STANDARDIZE", profile: "amazon", format: "jpeg" },
    ]);
    const standard = only(result.variants[0]);
    // box.png is 324 px wide: 2× is 648 px, 85% of a 762 px square.
    expect(standard.encoded).toMatchObject({ width: 762, height: 762 });
    expect(standard.operations.find((step) => step.operation === "standardize")?.parameters?.scale).toBe(2);
    const failing = standard.compliance?.rules.filter((rule) => !rule.pass).map((rule) => rule.detail);
    expect(failing).toEqual(["longest side 762 px < 1000"]);
  });

  it("reports the original's failures by rule: a small, non-square photo on a grey backdrop", async () => {
    const result = await render(productOnGrey, [
      { name: "standard", mode: "STANDARDIZE", profile: "amazon", format: "jpeg" },
    ]);
    const amazon = result.original.compliance.amazon;
    expect(amazon.pass).toBe(false);
    const failing = amazon.rules.filter((rule) => !rule.pass).map((rule) => rule.detail);
    expect(failing).toContain("longest side 900 px < 1000");
    expect(failing.some((detail) => detail.startsWith("background is not white"))).toBe(true);
    expect(failing).toContain("900×700 px is not square");
  });

  it("trims the uniform backdrop so the product spans about 85% of the square", async () => {
    const result = await render(productOnGrey, [
      { name: "standard", mode: "STANDARDIZE", profile: "amazon", format: "jpeg" },
    ]);
    const fill = only(result.variants[0]).compliance?.rules.find((rule) => rule.rule === "product fill");
    expect(fill?.pass, fill?.detail).toBe(true);
  });
});

describe("LIGHT_CORRECTION", () => {
  it("raises the mean luminance of an under-exposed photo and the exposure score", async () => {
    const dark = await toRaw((await sharpOf(await load("LadyBird.jpg", 1200))).linear(0.35, 0));
    const before = await assessQuality(dark);
    const after = await assessQuality(
      rendered(await applyMode("LIGHT_CORRECTION", dark, await contextFor(dark))),
    );
    expect(after.measurements.meanLuminance).toBeGreaterThan(before.measurements.meanLuminance * 1.5);
    expect(after.scores.exposure).toBeGreaterThan(before.scores.exposure);
  });
  it("gives a pale, low-contrast photo more contrast without darkening it or saturating its colours", async () => {
    // A flat photo stretched to full range, channel by channel, turned pale wood into dark grey and a grey
    // backdrop into saturated blue: the curve works on lightness, at most doubles contrast, and keeps the
    // median of a photo that is already bright.
    const meanChroma = (image: RawImage) => {
      let sum = 0;
      for (let offset = 0; offset < image.data.length; offset += image.channels) {
        const [r, g, b] = [image.data[offset], image.data[offset + 1], image.data[offset + 2]] as number[];
        sum +=
          Math.max(r as number, g as number, b as number) - Math.min(r as number, g as number, b as number);
      }
      return sum / (image.width * image.height);
    };
    for (const file of [
      `${CORPUS}Wood.jpg`,
      new URL("../../samples/box-sideways.jpg", import.meta.url).pathname,
    ]) {
      const pale = await toRaw(
        sharp(file).autoOrient().resize(1200, 1200, { fit: "inside" }).toColourspace("srgb"),
      );
      const before = await assessQuality(pale);
      expect(before.flags.lowContrast, file).toBe(true);
      const corrected = rendered(await applyMode("LIGHT_CORRECTION", pale, await contextFor(pale)));
      const after = await assessQuality(corrected);
      expect(after.measurements.luminanceStdDev, file).toBeGreaterThan(
        before.measurements.luminanceStdDev * 1.3,
      );
      expect(after.measurements.meanLuminance, file).toBeGreaterThan(before.measurements.meanLuminance * 0.9);
      expect(meanChroma(corrected) / meanChroma(pale), file).toBeLessThan(2.1);
    }
  });
});

describe("SHARPEN", () => {
  it("raises the Laplacian variance of a soft photo", async () => {
    const soft = await toRaw((await sharpOf(await load("Wood.jpg", 1200))).blur(2));
    const before = await assessQuality(soft);
    const after = await assessQuality(rendered(await applyMode("SHARPEN", soft, await contextFor(soft))));
    expect(after.measurements.laplacianVariance).toBeGreaterThan(
      before.measurements.laplacianVariance * 1.15,
    );
    expect(after.scores.sharpness).toBeGreaterThanOrEqual(before.scores.sharpness);
  });
});

describe("DENOISE and UPSCALE_DENOISE", () => {
  it("lowers the noise estimate of a noisy photo", async () => {
    const noisy = await addNoise(await load("LadyBird.jpg", 800), 18);
    const before = await assessQuality(noisy);
    const after = await assessQuality(rendered(await applyMode("DENOISE", noisy, await contextFor(noisy))));
    expect(after.measurements.noiseSigma).toBeLessThan(before.measurements.noiseSigma * 0.7);
  });

  it("upscales a small noisy photo with less noise than upscaling alone", async () => {
    const noisy = await addNoise(await load("butterfly.jpg"), 18);
    const context = await contextFor(noisy);
    const plain = rendered(await applyMode("UPSCALE", noisy, context));
    const clean = rendered(await applyMode("UPSCALE_DENOISE", noisy, context));
    expect([clean.width, clean.height]).toEqual([plain.width, plain.height]);
    expect((await assessQuality(clean)).measurements.noiseSigma).toBeLessThan(
      (await assessQuality(plain)).measurements.noiseSigma,
    );
  });
});

describe("UPSCALE", () => {
  it("takes a photo under 1000 px to at least 1000 px on its longest side, keeping its shape", async () => {
    const small = await load("box.png");
    expect(Math.max(small.width, small.height)).toBeLessThan(1000);
    const result = rendered(await applyMode("UPSCALE", small, await contextFor(small)));
    expect(Math.max(result.width, result.height)).toBeGreaterThanOrEqual(1000);
    expect(result.width / result.height).toBeCloseTo(small.width / small.height, 1);
  });

  it("leaves a photo that is already large as it is", async () => {
    const large = await load("Wood.jpg", 1600);
    const result = rendered(await applyMode("UPSCALE", large, await contextFor(large)));
    expect([result.width, result.height]).toEqual([large.width, large.height]);
  });
});

describe("BACKGROUND_REMOVE", () => {
  it("turns a flat backdrop pure white and leaves the product alone", async () => {
    const image = await toRaw(sharp(productOnGrey));
    const result = rendered(await applyMode("BACKGROUND_REMOVE", image, await contextFor(image)));
    expect(pixel(result, 5, 5)).toEqual([255, 255, 255]);
    expect(pixel(result, 890, 690)).toEqual([255, 255, 255]);
    const centre = pixel(image, 450, 350);
    expect(pixel(result, 450, 350)).toEqual(centre);
  });

  it("makes the backdrop transparent for formats that keep alpha", async () => {
    const image = await toRaw(sharp(productOnGrey));
    const result = rendered(
      await applyMode("BACKGROUND_REMOVE", image, await contextFor(image, { keepAlpha: true })),
    );
    expect(result.channels).toBe(4);
    expect(pixel(result, 5, 5)[3]).toBe(0);
    expect(pixel(result, 450, 350)[3]).toBe(255);
  });

  it("skips a busy background with the reason, instead of smearing the product", async () => {
    const busy = await load("fruits.jpg");
    const result = await applyMode("BACKGROUND_REMOVE", busy, await contextFor(busy));
    expect(result.kind).toBe("skipped");
    expect(result.kind === "skipped" && result.reason).toMatch(/^background is not uniform/);
  });
});

describe("OPTIMIZE", () => {
  it("treats a WebP target size as a budget: the normal quality when it fits, else within 10% under", async () => {
    const result = await render("Wood.jpg", [
      { name: "web", mode: "OPTIMIZE", format: "webp", targetKb: 200 },
      { name: "tight", mode: "OPTIMIZE", format: "webp", targetKb: 50 },
    ]);
    const web = only(result.variants[0]);
    expect(web.encoded.format).toBe("webp");
    expect(Math.max(web.encoded.width, web.encoded.height)).toBe(1600);
    // A 1600 px photo at WebP's normal quality is well under 200 KB: that encode is the output.
    expect(web.encoded.bytes).toBeLessThanOrEqual(200 * 1024);
    expect(web.encoded.size).toMatchObject({ outcome: "fits-at-default", quality: 82, normalQuality: 82 });
    // At 50 KB the normal quality is over: searched below it, into the window.
    const tight = only(result.variants[1]);
    expect(tight.encoded.bytes).toBeLessThanOrEqual(50 * 1024);
    expect(tight.encoded.bytes).toBeGreaterThanOrEqual(0.9 * 50 * 1024);
    expect(tight.encoded.size.outcome).toBe("met");
    expect(tight.encoded.size.quality).toBeLessThan(82);
  });
});

describe("FULL", () => {
  it("corrects, removes a flat backdrop and standardizes to a compliant amazon image", async () => {
    // The apple is under 200 px: only the full side (asked for) gives Amazon its 1000 px.
    const result = await render(productOnGrey, [
      { name: "full", mode: "FULL", profile: "amazon", format: "jpeg", fullSide: true },
    ]);
    const full = only(result.variants[0]);
    expect(full.operations.map((operation) => operation.operation)).toEqual(
      expect.arrayContaining(["light-correction", "sharpen", "background-remove", "standardize"]),
    );
    expect(full.compliance?.pass, JSON.stringify(full.compliance?.rules)).toBe(true);
    expect(full.encoded).toMatchObject({ width: 2000, height: 2000 });
  });
});

describe("AUTO", () => {
  it("chooses light correction for an under-exposed photo and says why", async () => {
    const dark = await toRaw((await sharpOf(await load("LadyBird.jpg", 1200))).linear(0.3, 0));
    const quality = await assessQuality(dark);
    expect(planAuto(quality).map((step) => step.mode)).toContain("LIGHT_CORRECTION");
    const result = await applyMode("AUTO", dark, await contextFor(dark));
    const light = result.operations.find((operation) => operation.operation === "light-correction");
    expect(light?.reason).toMatch(/under-exposed/);
  });

  it("chooses upscaling for a small photo", async () => {
    const small = await load("smarties.png");
    expect(planAuto(await assessQuality(small)).map((step) => step.mode)).toContain("UPSCALE");
  });
});

describe("the default variant set", () => {
  it("derives standard, enhanced, web and thumb from one decode of an 8 MP photo", async () => {
    const result = await render("elephants-3840x2160.jpg", [...DEFAULT_VARIANT_SET]);
    expect(result.variants.map((variant) => variant.spec.name)).toEqual([
      "standard",
      "enhanced",
      "web",
      "thumb",
    ]);
    const [standard, enhanced, web, thumb] = result.variants.map(only);
    expect(standard?.encoded).toMatchObject({ format: "jpeg", width: 2000, height: 2000 });
    expect(Math.max(enhanced?.encoded.width ?? 0, enhanced?.encoded.height ?? 0)).toBeLessThanOrEqual(2048);
    expect(web?.encoded.format).toBe("webp");
    expect(web?.encoded.bytes).toBeLessThanOrEqual(200 * 1024);
    expect(Math.max(thumb?.encoded.width ?? 0, thumb?.encoded.height ?? 0)).toBe(400);
    expect(result.original).toMatchObject({ width: 3840, height: 2160 });
    expect(result.original.hashes.pHash).toMatch(/^[0-9a-f]{16}$/);
    for (const variant of [standard, enhanced, web, thumb]) {
      const metadata = await sharp(variant?.encoded.body).metadata();
      expect(metadata.exif).toBeUndefined();
      expect(metadata.space).toBe("srgb");
    }
  });

  it("decodes the master at the largest size any variant needs, never larger than the photo", async () => {
    const input = await readFile(`${CORPUS}LadyBird.jpg`);
    const master = await decodeMaster(input, 2000, MAX_PIXELS);
    expect([master.width, master.height]).toEqual([2000, 1250]);
    const small = await decodeMaster(await readFile(`${CORPUS}apple.jpg`), 2000, MAX_PIXELS);
    expect([small.width, small.height]).toEqual([512, 512]);
  });
});

const sharpOf = async (image: RawImage) =>
  sharp(image.data, { raw: { width: image.width, height: image.height, channels: image.channels } });

/** Adds seeded gaussian-ish noise (sum of uniforms), so the test is the same every run. */
const addNoise = async (image: RawImage, sigma: number): Promise<RawImage> => {
  let seed = 42;
  const uniform = () => {
    seed = (seed * 1664525 + 1013904223) % 4294967296;
    return seed / 4294967296;
  };
  const data = Buffer.from(image.data);
  for (let index = 0; index < data.length; index += 1) {
    if (image.channels === 4 && index % 4 === 3) continue;
    const noise = (uniform() + uniform() + uniform() - 1.5) * 2 * sigma;
    data[index] = Math.max(0, Math.min(255, Math.round((data[index] as number) + noise)));
  }
  return { ...image, data };
};
