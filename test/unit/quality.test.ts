import sharp from "sharp";
import { beforeAll, describe, expect, it } from "vitest";
import { assessBackground, assessQuality, type QualityReport } from "../../lambdas/engine/quality.ts";
import { fromRaw, type RawImage, toRaw } from "../../lambdas/engine/raw-image.ts";
import { CORPUS } from "../support/upload.ts";

/** The photos the behaviours are checked on: camera photos at web size, small product shots, greyscale, alpha. */
const PHOTOS = ["LadyBird.jpg", "Wood.jpg", "apple.jpg", "fruits.jpg", "box.png", "chicky_512.png"] as const;
type Photo = (typeof PHOTOS)[number];

const load = (file: string): Promise<RawImage> =>
  toRaw(sharp(`${CORPUS}${file}`).autoOrient().toColourspace("srgb"));

/** mulberry32: a small seeded PRNG, so the noisy copies are the same on every run. */
const prng = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};

/** Adds gaussian noise of `sigma` levels to every colour channel (alpha untouched), clamped to 0–255. */
const withNoise = (image: RawImage, sigma: number, seed: number): RawImage => {
  const random = prng(seed);
  const data = Buffer.from(image.data);
  for (let i = 0; i < data.length; i += 1) {
    if (image.channels === 4 && i % 4 === 3) continue;
    const gaussian = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
    data[i] = Math.min(255, Math.max(0, Math.round((data[i] as number) + sigma * gaussian)));
  }
  return { ...image, data };
};

const webSize = (image: RawImage): Promise<RawImage> =>
  toRaw(fromRaw(image).resize({ width: 1024, height: 1024, fit: "inside", withoutEnlargement: true }));

/** A dark rectangle centred on pure white, JPEG-encoded like an upload. */
const productShot = async (width: number, height: number, box: { width: number; height: number }) => {
  const jpeg = await sharp({ create: { width, height, channels: 3, background: "#ffffff" } })
    .composite([
      {
        input: { create: { width: box.width, height: box.height, channels: 3, background: "#3a2a1a" } },
        left: (width - box.width) / 2,
        top: (height - box.height) / 2,
      },
    ])
    .jpeg({ quality: 85 })
    .toBuffer();
  return toRaw(sharp(jpeg));
};

const originals = {} as Record<Photo, RawImage>;
const reports = {} as Record<Photo, QualityReport>;

beforeAll(async () => {
  for (const photo of PHOTOS) {
    originals[photo] = await load(photo);
    reports[photo] = await assessQuality(originals[photo]);
  }
});

const eachPhoto = async (modify: (image: RawImage) => Promise<RawImage> | RawImage) =>
  Promise.all(
    PHOTOS.map(async (photo) => ({
      photo,
      original: reports[photo],
      modified: await assessQuality(await modify(originals[photo])),
    })),
  );

describe("assessQuality", () => {
  it("reports the image's own size, whatever size it was measured at", () => {
    expect(reports["LadyBird.jpg"].measurements).toMatchObject({
      width: 2560,
      height: 1600,
      megapixels: 4.1,
    });
    expect(reports["box.png"].measurements).toMatchObject({ width: 324, height: 223 });
  });

  it("flags a photo darkened to 35% as under-exposed, with a lower exposure score", async () => {
    for (const photo of PHOTOS) expect(reports[photo].flags.underExposed, photo).toBe(false);
    for (const { photo, original, modified } of await eachPhoto((image) =>
      toRaw(fromRaw(image).linear(0.35, 0)),
    )) {
      expect(modified.flags.underExposed, photo).toBe(true);
      expect(modified.scores.exposure, photo).toBeLessThan(original.scores.exposure);
      expect(modified.scores.exposure, photo).toBeLessThan(20);
      expect(modified.measurements.meanLuminance, photo).toBeLessThan(
        original.measurements.meanLuminance * 0.4,
      );
    }
  });

  it("flags a blurred copy as soft, with a lower sharpness score, while the sharp originals are not", async () => {
    // LadyBird is a shallow-focus macro: its ladybird is sharp, but most of its edges are bokeh.
    const softOriginals = PHOTOS.filter((photo) => reports[photo].flags.soft);
    expect(softOriginals).toEqual(["LadyBird.jpg"]);
    for (const { photo, original, modified } of await eachPhoto((image) => toRaw(fromRaw(image).blur(3)))) {
      expect(modified.flags.soft, photo).toBe(true);
      expect(modified.scores.sharpness, photo).toBeLessThan(original.scores.sharpness);
      expect(modified.measurements.edgeSharpness, photo).toBeLessThan(original.measurements.edgeSharpness);
      expect(modified.measurements.laplacianVariance, photo).toBeLessThan(
        original.measurements.laplacianVariance,
      );
    }
  });

  it("flags gaussian noise (σ 12 per channel, at web size) as noisy, and none of the originals", async () => {
    for (const photo of PHOTOS) expect(reports[photo].flags.noisy, photo).toBe(false);
    const noisy = await eachPhoto(async (image) => withNoise(await webSize(image), 12, 2024));
    for (const { photo, original, modified } of noisy) {
      expect(modified.flags.noisy, photo).toBe(true);
      expect(modified.measurements.noiseSigma, photo).toBeGreaterThan(original.measurements.noiseSigma + 3);
      expect(modified.scores.noise, photo).toBeLessThan(original.scores.noise);
      // Noise reads as crisp detail, never as softness: AUTO must not sharpen a noisy photo for it.
      expect(modified.flags.soft, photo).toBe(false);
    }
  });

  it("flags a photo under 1000 px on its longest side as small", async () => {
    const small = await assessQuality(
      await toRaw(fromRaw(originals["LadyBird.jpg"]).resize({ width: 300, height: 200, fit: "fill" })),
    );
    expect(small.measurements).toMatchObject({ width: 300, height: 200, megapixels: 0.06 });
    expect(small.flags.small).toBe(true);
    expect(small.scores.resolution).toBeLessThan(reports["LadyBird.jpg"].scores.resolution);
    expect(reports["LadyBird.jpg"].flags.small).toBe(false);
    expect(reports["Wood.jpg"].flags.small).toBe(false);
    expect(reports["apple.jpg"].flags.small).toBe(true);
  });

  it("flags a blown-out copy as over-exposed, but not a product shot on a white backdrop", async () => {
    const blown = await assessQuality(await toRaw(fromRaw(originals["LadyBird.jpg"]).linear(1.8, 0)));
    expect(blown.flags.overExposed).toBe(true);
    expect(blown.scores.exposure).toBeLessThan(reports["LadyBird.jpg"].scores.exposure);

    const shot = await assessQuality(await productShot(1600, 1200, { width: 800, height: 600 }));
    expect(shot.measurements.clippedHighlights).toBeGreaterThan(0.7);
    expect(shot.measurements.subjectClippedHighlights).toBeLessThan(0.01);
    expect(shot.flags).toMatchObject({ overExposed: false, underExposed: false, lowContrast: false });

    const smarties = await assessQuality(await load("smarties.png")); // sweets scattered on white paper
    expect(smarties.flags.overExposed).toBe(false);
  });

  it("counts as backdrop exactly the white joined to the frame's edge, however winding the join", async () => {
    // Black and white pixels at random (40% black): white regions of every shape, some joined to the
    // edge through long winding paths, some enclosed. The reference is a plain flood fill from the edge.
    const width = 180;
    const height = 120;
    const random = prng(7);
    const white = new Uint8Array(width * height).map(() => (random() < 0.4 ? 0 : 1));
    const joined = new Uint8Array(width * height);
    const queue: number[] = [];
    for (let pixel = 0; pixel < white.length; pixel += 1) {
      const x = pixel % width;
      const y = Math.floor(pixel / width);
      const onEdge = x === 0 || y === 0 || x === width - 1 || y === height - 1;
      if (onEdge && white[pixel]) {
        joined[pixel] = 1;
        queue.push(pixel);
      }
    }
    while (queue.length > 0) {
      const pixel = queue.pop() as number;
      const x = pixel % width;
      for (const next of [
        x > 0 ? pixel - 1 : -1,
        x < width - 1 ? pixel + 1 : -1,
        pixel - width,
        pixel + width,
      ]) {
        if (next >= 0 && next < white.length && white[next] && !joined[next]) {
          joined[next] = 1;
          queue.push(next);
        }
      }
    }
    const whites = white.reduce((sum, value) => sum + value, 0);
    const backdrop = joined.reduce((sum, value) => sum + value, 0);
    expect(backdrop).toBeGreaterThan(0);
    expect(whites - backdrop).toBeGreaterThan(0);

    const data = Buffer.alloc(width * height * 3);
    for (const [pixel, value] of white.entries()) data.fill(value * 255, pixel * 3, pixel * 3 + 3);
    const report = await assessQuality({ data, width, height, channels: 3 });
    expect(report.measurements.clippedHighlights).toBeCloseTo(whites / white.length, 4);
    expect(report.measurements.subjectClippedHighlights).toBeCloseTo(
      (whites - backdrop) / (white.length - backdrop),
      4,
    );
  });

  it("flags a pale, flat photo as low-contrast rather than over-exposed", () => {
    // Wood.jpg: pale painted planks, luma 174–231, nothing clipped.
    expect(reports["Wood.jpg"].flags).toMatchObject({ lowContrast: true, overExposed: false });
    expect(reports["fruits.jpg"].flags.lowContrast).toBe(false);
  });

  it("gives a clean, sharp, well-exposed, large photo a higher overall score than its damaged copies", async () => {
    const original = reports["LadyBird.jpg"].scores.overall;
    const damaged = await Promise.all([
      assessQuality(await toRaw(fromRaw(originals["LadyBird.jpg"]).linear(0.35, 0))),
      assessQuality(await toRaw(fromRaw(originals["LadyBird.jpg"]).blur(3))),
      assessQuality(await toRaw(fromRaw(originals["LadyBird.jpg"]).resize({ width: 300 }))),
    ]);
    for (const report of damaged) expect(report.scores.overall).toBeLessThan(original);
  });
});

describe("assessBackground", () => {
  it("finds a dark product centred on pure white: white, uniform, and its exact box", async () => {
    const report = await assessBackground(await productShot(1600, 1200, { width: 800, height: 600 }));
    expect(report.whiteness).toBeGreaterThan(99.5);
    expect(report.borderColour).toEqual({ r: 255, g: 255, b: 255 });
    expect(report.uniform).toBe(true);
    expect(report.borderStdDev).toBeLessThan(1);
    const expected = (800 * 600) / (1600 * 1200);
    expect(Math.abs(report.fillRatio - expected) / expected).toBeLessThan(0.02);
    for (const [side, value] of Object.entries({ left: 400, top: 300, width: 800, height: 600 })) {
      expect(
        Math.abs(report.productBox[side as keyof typeof report.productBox] - value),
        side,
      ).toBeLessThanOrEqual(2);
    }
  });

  it("measures a tall product in a wide frame the same way", async () => {
    const report = await assessBackground(await productShot(3000, 2000, { width: 1000, height: 1500 }));
    expect(report.uniform).toBe(true);
    expect(Math.abs(report.fillRatio - 0.25) / 0.25).toBeLessThan(0.02);
  });

  it("counts transparent pixels as white", async () => {
    const image = await toRaw(
      sharp({
        create: { width: 600, height: 400, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } },
      }).composite([
        {
          input: { create: { width: 200, height: 100, channels: 4, background: "#204080ff" } },
          left: 200,
          top: 150,
        },
      ]),
    );
    expect(image.channels).toBe(4);
    const report = await assessBackground(image);
    expect(report).toMatchObject({ whiteness: 100, uniform: true, borderColour: { r: 255, g: 255, b: 255 } });
    expect(report.productBox).toEqual({ left: 200, top: 150, width: 200, height: 100 });
  });

  it("calls a busy photo's border not uniform, and its whole frame the subject", async () => {
    for (const photo of ["Wood.jpg", "fruits.jpg"] as const) {
      const report = await assessBackground(originals[photo]);
      expect(report.uniform, photo).toBe(false);
      expect(report.borderStdDev, photo).toBeGreaterThan(10);
      expect(report.whiteness, photo).toBeLessThan(90);
      expect(report.fillRatio, photo).toBeGreaterThan(0.9);
    }
  });

  it("reports no product on a blank white frame", async () => {
    const report = await assessBackground(
      await toRaw(sharp({ create: { width: 400, height: 300, channels: 3, background: "#ffffff" } })),
    );
    expect(report).toMatchObject({ whiteness: 100, uniform: true, fillRatio: 0 });
    expect(report.productBox).toEqual({ left: 0, top: 0, width: 0, height: 0 });
  });
});
