import sharp from "sharp";
import { PROFILES, type Profile } from "./profiles.ts";
import {
  assessBackground,
  type BackgroundReport,
  foldInterleaved,
  interleavedCounts,
  type QualityReport,
} from "./quality.ts";
import { fromRaw, type RawImage, toRaw } from "./raw-image.ts";
import type { Mode, ProfileName } from "./vocabulary.ts";

/** Every recipe's parameters, in one place; each mode below is a fixed, deterministic use of them. */
export const RECIPES = {
  lightCorrection: {
    /** Luminance percentiles mapped to black and white (a levels stretch that ignores stray pixels). */
    blackPercentile: 0.5,
    whitePercentile: 99.5,
    /**
     * Where a dark photo's median luminance lands after the tone curve (0–1): a little below middle grey. A
     * photo already brighter keeps its median (a pale wood stays pale), up to `maxMedian`.
     */
    targetMedian: 0.46,
    maxMedian: 0.8,
    /**
     * The narrowest input range the levels stretch to 0–255: at most a 2× gain. A flat, low-contrast photo
     * (luminance 140–184) stretched to full range turns its muted tones into black faces and harsh grain.
     */
    minRange: 128,
    /** Bounds of the gamma that moves the median, so a night shot is lifted, not washed out. */
    minGamma: 0.4,
    maxGamma: 1.6,
  },
  /**
   * An unsharp mask on lightness with libvips' `sharpen` curve, in 8-bit luma levels: a difference from
   * the blurred image under `threshold` is multiplied by `flat`, beyond it by `jagged`, and the change
   * is capped at `maxBrighten` and `maxDarken` (libvips' defaults x1 2, y2 10, y3 20 in L* units, ×2.55).
   */
  sharpen: { sigma: 1.2, flat: 1, jagged: 3, threshold: 5, maxBrighten: 26, maxDarken: 51 },
  denoise: { medianSize: 3 },
  upscale: {
    /** Photos whose longest side is below this are upscaled (marketplaces' zoom minimum). */
    minLongestSide: 1000,
    minFactor: 2,
    maxFactor: 4,
    maxSide: 2000,
    /**
     * The light sharpen after enlarging, with libvips' default slopes. σ 0.65, not the 0.6 it once was:
     * libvips' integer Gaussian takes a much slower path at 0.6 for a mask that differs in the second
     * decimal (neighbour weight 0.31 against 0.25).
     */
    sharpen: { sigma: 0.65, flat: 1, jagged: 2, threshold: 5, maxBrighten: 26, maxDarken: 51 },
  },
  standardize: {
    /**
     * The most STANDARDIZE enlarges a product that lacks the pixels for the profile's smallest side:
     * beyond it the canvas shrinks instead (and the compliance report says the side is short).
     */
    maxEnlargement: 2,
  },
  backgroundRemove: {
    /** RGB distance from the border colour within which a pixel joined to the border is background. */
    tolerance: 28,
    /** More than this share of the frame found to be background means the product could not be told apart. */
    maxBackgroundShare: 0.97,
  },
  optimize: { maxSide: 1600 },
} as const;

export interface AppliedOperation {
  operation: string;
  /** Why it was applied (AUTO) or what it did, for the history. */
  reason: string;
  parameters?: Record<string, number | string | boolean>;
}

export type ModeResult =
  | { kind: "rendered"; image: RawImage; operations: AppliedOperation[] }
  | { kind: "skipped"; reason: string; operations: AppliedOperation[] };

/** The master's assessment and border analysis: what AUTO, FULL, STANDARDIZE and BACKGROUND_REMOVE decide from. */
export interface MasterAnalysis {
  quality: QualityReport;
  background: BackgroundReport;
}

export interface ModeContext {
  /**
   * The analysis of the image the mode starts from, as a promise: the modes that do not read it
   * (OPTIMIZE, SHARPEN, DENOISE, UPSCALE, LIGHT_CORRECTION) start their pixel work before it is made.
   */
  analysis: Promise<MasterAnalysis>;
  profile?: ProfileName | undefined;
  /** Keep transparency (PNG/WebP/AVIF outputs) instead of white, where a mode makes background. */
  keepAlpha: boolean;
  /** Longest side the output is wanted at (thumbnails, web copies). */
  maxSide?: number | undefined;
  /** STANDARDIZE and FULL: always the profile's full side, enlarging the product as far as it takes. */
  fullSide?: boolean | undefined;
}

/** Rec. 709 luma in 16-bit fixed point (the weights sum to 65536), rounded to a level 0–255. */
const lumaLevel = (r: number, g: number, b: number): number =>
  (13933 * r + 46871 * g + 4732 * b + 32768) >> 16;

/**
 * A tone curve over luminance, as a 256-entry lookup table. sharp exposes levels (`normalise`) but no curve
 * that moves the midtones by a computed gamma, so the curve is applied to the raw master here. Each pixel's
 * R, G and B are scaled by the same factor, the curve's gain at its luminance: the curve changes lightness
 * and keeps each colour's hue and saturation. Applied to R, G and B each, a steep levels stretch (a
 * low-contrast photo's 140–184 to 0–255) would multiply every difference between channels by as much, and
 * turn a muted backdrop into a saturated one.
 */
const applyLuminanceCurve = (image: RawImage, curve: Float64Array): RawImage => {
  // Per luma level, the gain in 12-bit fixed point; black has no hue to keep and takes the curve's value as grey.
  const gain = new Int32Array(256);
  for (let level = 1; level < 256; level += 1)
    gain[level] = Math.round((4096 * (curve[level] as number)) / level);
  const black = Math.round(curve[0] as number);
  const data = Buffer.allocUnsafe(image.data.length);
  // The clamped view clips each channel to 255 on store.
  const clipped = new Uint8ClampedArray(data.buffer, data.byteOffset, data.length);
  const { channels } = image;
  const source = image.data;
  for (let offset = 0; offset < source.length; offset += channels) {
    const r = source[offset] as number;
    const g = source[offset + 1] as number;
    const b = source[offset + 2] as number;
    const level = lumaLevel(r, g, b);
    if (level === 0) {
      clipped[offset] = black;
      clipped[offset + 1] = black;
      clipped[offset + 2] = black;
    } else {
      const factor = gain[level] as number;
      clipped[offset] = (r * factor + 2048) >> 12;
      clipped[offset + 1] = (g * factor + 2048) >> 12;
      clipped[offset + 2] = (b * factor + 2048) >> 12;
    }
    if (channels === 4) data[offset + 3] = source[offset + 3] as number;
  }
  return { ...image, data };
};

const luminanceHistogram = (image: RawImage): Uint32Array => {
  const counts = interleavedCounts();
  const { data, channels } = image;
  for (let index = 0, pixel = 0; index < data.length; index += channels, pixel += 1) {
    const slot =
      (lumaLevel(data[index] as number, data[index + 1] as number, data[index + 2] as number) << 2) |
      (pixel & 3);
    counts[slot] = (counts[slot] as number) + 1;
  }
  return foldInterleaved(counts);
};

const percentile = (histogram: Uint32Array, share: number): number => {
  const total = histogram.reduce((sum, count) => sum + count, 0);
  let seen = 0;
  for (let value = 0; value < 256; value += 1) {
    seen += histogram[value] as number;
    if (seen >= total * share) return value;
  }
  return 255;
};

/** Levels stretch between the 0.5th and 99.5th luminance percentiles, then a gamma that moves the median. */
export const lightCorrection = (image: RawImage): { image: RawImage; operation: AppliedOperation } => {
  const recipe = RECIPES.lightCorrection;
  const histogram = luminanceHistogram(image);
  const low = percentile(histogram, recipe.blackPercentile / 100);
  const high = Math.max(low, percentile(histogram, recipe.whitePercentile / 100));
  // A range narrower than `minRange` widens around its middle, kept inside 0–255.
  const widen = Math.max(0, recipe.minRange - (high - low)) / 2;
  const black = Math.round(Math.max(0, Math.min(255 - recipe.minRange, low - widen)));
  const white = Math.max(black + recipe.minRange, Math.round(Math.min(255, high + widen)));
  const median = percentile(histogram, 0.5);
  const target = Math.min(recipe.maxMedian, Math.max(recipe.targetMedian, median / 255));
  const stretchedMedian = Math.min(0.99, Math.max(0.01, (median - black) / (white - black)));
  const gamma = Math.min(
    recipe.maxGamma,
    Math.max(recipe.minGamma, Math.log(target) / Math.log(stretchedMedian)),
  );
  const curve = new Float64Array(256);
  for (let value = 0; value < 256; value += 1) {
    const stretched = Math.min(1, Math.max(0, (value - black) / (white - black)));
    curve[value] = 255 * stretched ** gamma;
  }
  return {
    image: applyLuminanceCurve(image, curve),
    operation: {
      operation: "light-correction",
      reason: `levels ${black}–${white}, median ${median} → ${Math.round(255 * stretchedMedian ** gamma)}`,
      parameters: { black, white, gamma: Number(gamma.toFixed(3)) },
    },
  };
};

type UnsharpMask = (typeof RECIPES)["sharpen"] | (typeof RECIPES)["upscale"]["sharpen"];

/** The change the mask makes for each difference from the blurred luma, −255 to 255 (index + 255). */
const unsharpCurve = (mask: UnsharpMask): Int16Array => {
  const curve = new Int16Array(511);
  for (let difference = -255; difference <= 255; difference += 1) {
    const size = Math.abs(difference);
    const shaped =
      size < mask.threshold
        ? size * mask.flat
        : mask.threshold * mask.flat + (size - mask.threshold) * mask.jagged;
    const cap = difference > 0 ? mask.maxBrighten : mask.maxDarken;
    curve[difference + 255] = Math.sign(difference) * Math.round(Math.min(cap, shaped));
  }
  return curve;
};

/**
 * libvips' `sharpen` (what sharp's `sharpen({ sigma })` runs) converts the whole image to LabS and back
 * around its mask, which costs several times the mask itself. The same curve is applied here on Rec. 709
 * luma: libvips blurs the luma (one band: a third of the work of blurring RGB), then one pass adds each
 * pixel's change to R, G and B alike, so lightness is sharpened and hue kept, as in LabS. Alpha is kept.
 */
const unsharpLightness = async (image: RawImage, mask: UnsharpMask): Promise<RawImage> => {
  const { data, channels, width, height } = image;
  const luma = Buffer.allocUnsafe(width * height);
  for (let pixel = 0, offset = 0; pixel < luma.length; pixel += 1, offset += channels) {
    luma[pixel] = lumaLevel(data[offset] as number, data[offset + 1] as number, data[offset + 2] as number);
  }
  // One band stays one band only if asked: sharp writes sRGB otherwise.
  const blurred = await sharp(luma, { raw: { width, height, channels: 1 } })
    .blur(mask.sigma)
    .toColourspace("b-w")
    .raw()
    .toBuffer();
  const curve = unsharpCurve(mask);
  const sharpened = Buffer.allocUnsafe(data.length);
  // A clamped view rounds nothing here (the values are integers) but clips to 0–255 on store.
  const clipped = new Uint8ClampedArray(sharpened.buffer, sharpened.byteOffset, sharpened.length);
  for (let pixel = 0, offset = 0; pixel < luma.length; pixel += 1, offset += channels) {
    const change = curve[(luma[pixel] as number) - (blurred[pixel] as number) + 255] as number;
    clipped[offset] = (data[offset] as number) + change;
    clipped[offset + 1] = (data[offset + 1] as number) + change;
    clipped[offset + 2] = (data[offset + 2] as number) + change;
    if (channels === 4) sharpened[offset + 3] = data[offset + 3] as number;
  }
  return { ...image, data: sharpened };
};

export const sharpen = (image: RawImage): Promise<RawImage> => unsharpLightness(image, RECIPES.sharpen);

export const denoise = async (image: RawImage): Promise<RawImage> =>
  toRaw(fromRaw(image).median(RECIPES.denoise.medianSize));

/** Upscales a photo under 1000 px on its longest side by 2× to 4× (never past 2000 px), then crisps it. */
export const upscale = async (image: RawImage): Promise<{ image: RawImage; operation: AppliedOperation }> => {
  const recipe = RECIPES.upscale;
  const longest = Math.max(image.width, image.height);
  if (longest >= recipe.minLongestSide) {
    return {
      image,
      operation: { operation: "upscale", reason: `already ${longest} px ≥ ${recipe.minLongestSide}: kept` },
    };
  }
  const factor = Math.min(
    recipe.maxFactor,
    recipe.maxSide / longest,
    Math.max(recipe.minFactor, recipe.minLongestSide / longest),
  );
  const width = Math.round(image.width * factor);
  const height = Math.round(image.height * factor);
  const upscaled = await unsharpLightness(
    await toRaw(fromRaw(image).resize({ width, height, kernel: "lanczos3" })),
    recipe.sharpen,
  );
  return {
    image: upscaled,
    operation: {
      operation: "upscale",
      reason: `${image.width}×${image.height} → ${width}×${height} (lanczos3)`,
      parameters: { factor: Number(factor.toFixed(3)) },
    },
  };
};

/**
 * Finds the background as the pixels joined to the frame's border whose colour is within `tolerance`
 * of the border colour (a flood fill from every border pixel). Written here because no maintained
 * library segments a product from a flat backdrop without a model; a border that is not near-uniform
 * is refused upstream, so the fill can never run into the product through a busy background.
 */
const backgroundMask = (image: RawImage, background: BackgroundReport): Uint8Array => {
  const { width, height, channels, data } = image;
  const { r, g, b } = background.borderColour;
  const limit = RECIPES.backgroundRemove.tolerance ** 2;
  const mask = new Uint8Array(width * height);
  const queue = new Uint32Array(width * height);
  let head = 0;
  let tail = 0;
  const visit = (pixel: number) => {
    if (mask[pixel]) return;
    const offset = pixel * channels;
    const dr = (data[offset] as number) - r;
    const dg = (data[offset + 1] as number) - g;
    const db = (data[offset + 2] as number) - b;
    const transparent = channels === 4 && (data[offset + 3] as number) < 16;
    if (!transparent && dr * dr + dg * dg + db * db > limit) return;
    mask[pixel] = 1;
    queue[tail++] = pixel;
  };
  for (let x = 0; x < width; x += 1) {
    visit(x);
    visit((height - 1) * width + x);
  }
  for (let y = 0; y < height; y += 1) {
    visit(y * width);
    visit(y * width + width - 1);
  }
  while (head < tail) {
    const pixel = queue[head++] as number;
    const x = pixel % width;
    if (x > 0) visit(pixel - 1);
    if (x < width - 1) visit(pixel + 1);
    if (pixel >= width) visit(pixel - width);
    if (pixel < width * (height - 1)) visit(pixel + width);
  }
  return mask;
};

/** Replaces a near-uniform backdrop with pure white, or with transparency for formats that keep alpha. */
export const removeBackground = (
  image: RawImage,
  background: BackgroundReport,
  keepAlpha: boolean,
): ModeResult => {
  if (!background.uniform) {
    return {
      kind: "skipped",
      reason: `background is not uniform (border colour varies by ${background.borderStdDev.toFixed(1)}): removing it would smear the product`,
      operations: [],
    };
  }
  const mask = backgroundMask(image, background);
  const share = mask.reduce((sum, value) => sum + value, 0) / mask.length;
  if (share > RECIPES.backgroundRemove.maxBackgroundShare) {
    return {
      kind: "skipped",
      reason: `no product stands out from the background (${Math.round(share * 100)}% of the frame matches it)`,
      operations: [],
    };
  }
  const channels = keepAlpha ? 4 : 3;
  const data = Buffer.allocUnsafe(image.width * image.height * channels);
  for (let pixel = 0; pixel < mask.length; pixel += 1) {
    const source = pixel * image.channels;
    const target = pixel * channels;
    const alpha = image.channels === 4 ? (image.data[source + 3] as number) / 255 : 1;
    for (let channel = 0; channel < 3; channel += 1) {
      const value = image.data[source + channel] as number;
      // Without alpha, translucent edges are composited on white as the flattened output would be.
      data[target + channel] = mask[pixel]
        ? 255
        : keepAlpha
          ? value
          : Math.round(value * alpha + 255 * (1 - alpha));
    }
    if (keepAlpha) data[target + 3] = mask[pixel] ? 0 : Math.round(alpha * 255);
  }
  return {
    kind: "rendered",
    image: { data, width: image.width, height: image.height, channels },
    operations: [
      {
        operation: "background-remove",
        reason: `replaced the ${Math.round(share * 100)}% of the frame joined to the border with ${keepAlpha ? "transparency" : "white"}`,
        parameters: { tolerance: RECIPES.backgroundRemove.tolerance },
      },
    ],
  };
};

/**
 * The square's side for a product whose longest side is `productLongest` px, and why. No invented
 * pixels: the profile's side when the product has the pixels to fill it; else the smallest side the
 * profile accepts; the product enlarged at most `maxEnlargement`×, the canvas shrinking below the
 * smallest side rather than enlarging more.
 * `fullSide` asks for the profile's side whatever it takes.
 */
export const standardCanvas = (
  productLongest: number,
  profile: Profile,
  fullSide = false,
): { side: number; why: string } => {
  const atProductSize = Math.ceil(productLongest / profile.fill);
  if (fullSide) return { side: profile.side, why: "the full side, as the variant asks" };
  if (atProductSize >= profile.side) return { side: profile.side, why: "the profile's side" };
  // Without the pixels for the preferred side, the smallest side that still passes: fewer bytes for the same
  // compliance, and a product between the two sizes is made smaller, never larger.
  const mostEnlarged = Math.floor((RECIPES.standardize.maxEnlargement * productLongest) / profile.fill);
  if (mostEnlarged >= profile.minSide) {
    return { side: profile.minSide, why: `the smallest side ${profile.name} accepts` };
  }
  return {
    side: mostEnlarged,
    why: `the product's ${productLongest} px enlarged ${RECIPES.standardize.maxEnlargement}× at most, short of the ${profile.minSide} px ${profile.name} asks for`,
  };
};

/**
 * Trims the near-uniform border around the product, scales the product to the profile's fill of a
 * square canvas (see `standardCanvas` for its side), and pads the square with pure white.
 */
export const standardize = async (
  image: RawImage,
  background: BackgroundReport,
  profile: Profile,
  fullSide = false,
): Promise<ModeResult> => {
  const box = background.uniform
    ? background.productBox
    : { left: 0, top: 0, width: image.width, height: image.height };
  if (box.width === 0 || box.height === 0) {
    return {
      kind: "skipped",
      reason: "no product stands out from the background: the frame is one flat colour",
      operations: [],
    };
  }
  const canvas = standardCanvas(Math.max(box.width, box.height), profile, fullSide);
  const side = canvas.side;
  const productSide = Math.round(side * profile.fill);
  const scale = productSide / Math.max(box.width, box.height);
  const width = Math.max(1, Math.round(box.width * scale));
  const height = Math.max(1, Math.round(box.height * scale));
  const left = Math.floor((side - width) / 2);
  const top = Math.floor((side - height) / 2);
  const white = { r: 255, g: 255, b: 255, alpha: 1 };
  const squared = await toRaw(
    fromRaw(image)
      .extract(box)
      .flatten({ background: white })
      .resize({ width, height, kernel: "lanczos3" })
      .extend({
        left,
        top,
        right: side - width - left,
        bottom: side - height - top,
        background: white,
      }),
  );
  return {
    kind: "rendered",
    image: squared,
    operations: [
      {
        operation: "trim",
        reason: background.uniform
          ? `cropped to the product: ${box.width}×${box.height} at ${box.left},${box.top}`
          : "the background is not uniform: the whole photo is the product",
      },
      {
        operation: "standardize",
        reason: `product ${width}×${height} (×${scale.toFixed(2)}) centred on a white ${side}×${side} square (${profile.name}: ${canvas.why})`,
        parameters: { profile: profile.name, side, fill: profile.fill, scale: Number(scale.toFixed(3)) },
      },
    ],
  };
};

/** Fits inside `maxSide`, never enlarging. */
export const fitInside = async (image: RawImage, maxSide: number): Promise<RawImage> =>
  Math.max(image.width, image.height) <= maxSide
    ? image
    : toRaw(
        fromRaw(image).resize({ width: maxSide, height: maxSide, fit: "inside", withoutEnlargement: true }),
      );

/** What AUTO does for an assessment, and why: the choices are recorded in the history. */
export const planAuto = (quality: QualityReport): { mode: Mode; reason: string }[] => {
  const plan: { mode: Mode; reason: string }[] = [];
  const { flags, measurements } = quality;
  if (flags.underExposed || flags.overExposed || flags.lowContrast) {
    const why = [
      flags.underExposed && `under-exposed (mean luminance ${Math.round(measurements.meanLuminance)})`,
      flags.overExposed && `over-exposed (mean luminance ${Math.round(measurements.meanLuminance)})`,
      flags.lowContrast && `low contrast (luminance deviation ${measurements.luminanceStdDev.toFixed(1)})`,
    ].filter(Boolean);
    plan.push({ mode: "LIGHT_CORRECTION", reason: why.join(", ") });
  }
  if (flags.noisy)
    plan.push({ mode: "DENOISE", reason: `noisy (noise sigma ${measurements.noiseSigma.toFixed(2)})` });
  if (flags.small) {
    plan.push({ mode: "UPSCALE", reason: `small (${measurements.width}×${measurements.height})` });
  } else if (flags.soft) {
    plan.push({
      mode: "SHARPEN",
      reason: `soft (Laplacian variance ${measurements.laplacianVariance.toFixed(0)})`,
    });
  }
  return plan;
};

const single = async (mode: Mode, image: RawImage, context: ModeContext): Promise<ModeResult> => {
  switch (mode) {
    case "LIGHT_CORRECTION": {
      const corrected = lightCorrection(image);
      return { kind: "rendered", image: corrected.image, operations: [corrected.operation] };
    }
    case "SHARPEN":
      return {
        kind: "rendered",
        image: await sharpen(image),
        operations: [
          { operation: "sharpen", reason: "unsharp mask on lightness", parameters: { ...RECIPES.sharpen } },
        ],
      };
    case "DENOISE":
      return {
        kind: "rendered",
        image: await denoise(image),
        operations: [{ operation: "denoise", reason: "median filter", parameters: { ...RECIPES.denoise } }],
      };
    case "UPSCALE": {
      const upscaled = await upscale(image);
      return { kind: "rendered", image: upscaled.image, operations: [upscaled.operation] };
    }
    case "UPSCALE_DENOISE": {
      const clean = await denoise(image);
      const upscaled = await upscale(clean);
      return {
        kind: "rendered",
        image: upscaled.image,
        operations: [
          { operation: "denoise", reason: "median filter before enlarging the noise" },
          upscaled.operation,
        ],
      };
    }
    case "BACKGROUND_REMOVE":
      return removeBackground(image, (await context.analysis).background, context.keepAlpha);
    case "STANDARDIZE":
      return standardize(
        image,
        (await context.analysis).background,
        PROFILES[context.profile ?? "amazon"],
        context.fullSide,
      );
    case "OPTIMIZE": {
      const maxSide = context.maxSide ?? RECIPES.optimize.maxSide;
      return {
        kind: "rendered",
        image: await fitInside(image, maxSide),
        operations: [
          { operation: "optimize", reason: `fit inside ${maxSide} px for the web`, parameters: { maxSide } },
        ],
      };
    }
    case "AUTO":
    case "FULL":
      throw new Error(`${mode} is a chain of modes, not a single one`);
  }
};

const chain = async (
  steps: Mode[],
  image: RawImage,
  context: ModeContext,
  reasons: string[],
): Promise<ModeResult> => {
  let current = image;
  const operations: AppliedOperation[] = [];
  for (const [index, step] of steps.entries()) {
    // Modes after the first see the image as the previous one left it.
    const analysis =
      index > 0 && (step === "BACKGROUND_REMOVE" || step === "STANDARDIZE")
        ? Promise.all([context.analysis, assessBackground(current)]).then(([{ quality }, background]) => ({
            quality,
            background,
          }))
        : context.analysis;
    const result = await single(step, current, { ...context, analysis });
    if (result.kind === "skipped") {
      operations.push({
        operation: step.toLowerCase().replace(/_/g, "-"),
        reason: `skipped: ${result.reason}`,
      });
      continue;
    }
    const why = reasons[index];
    operations.push(
      ...result.operations.map((operation) =>
        why ? { ...operation, reason: `${why}: ${operation.reason}` } : operation,
      ),
    );
    current = result.image;
  }
  return { kind: "rendered", image: current, operations };
};

/**
 * Applies a mode to the decoded master. AUTO chooses from the assessment and records why; FULL runs
 * the whole chain to a marketplace-ready image.
 */
export const applyMode = async (mode: Mode, image: RawImage, context: ModeContext): Promise<ModeResult> => {
  if (mode === "AUTO") {
    const plan = planAuto((await context.analysis).quality);
    if (plan.length === 0) {
      return {
        kind: "rendered",
        image,
        operations: [{ operation: "none", reason: "the assessment found nothing to correct" }],
      };
    }
    return chain(
      plan.map((step) => step.mode),
      image,
      context,
      plan.map((step) => step.reason),
    );
  }
  if (mode === "FULL") {
    const { quality, background } = await context.analysis;
    const steps: Mode[] = [
      "LIGHT_CORRECTION",
      ...(quality.flags.noisy ? (["DENOISE"] as Mode[]) : []),
      "SHARPEN",
    ];
    if (background.uniform) steps.push("BACKGROUND_REMOVE");
    steps.push("STANDARDIZE");
    return chain(steps, image, { ...context, keepAlpha: false }, []);
  }
  return single(mode, image, context);
};
