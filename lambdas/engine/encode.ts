import type { Sharp } from "sharp";
import { fromRaw, type RawImage, toRaw } from "./raw-image.ts";
import type { OutputFormat } from "./vocabulary.ts";

export interface EncodeOptions {
  format: OutputFormat;
  /**
   * A budget in KB (1 KB = 1024 bytes), 50–2000: the output is never above it. When the encode at the
   * normal quality fits, that is the output ("fits-at-default"); only otherwise is a lower quality
   * searched, landing within 10% under the budget. Never encoded above the normal quality to spend it.
   */
  targetKb?: number;
  /**
   * The normal quality (defaults per format, in ENCODE_DEFAULTS): the quality without a target, and
   * the ceiling of a target search. For PNG it asks for palette quantisation.
   */
  quality?: number;
  /** AVIF effort 0–9 (default in ENCODE_DEFAULTS; AVIF is slow, keep it low). */
  avifEffort?: number;
  /** Keep transparency (png/webp/avif) instead of flattening on white; jpeg always flattens on white. */
  keepAlpha?: boolean;
}

/** One encode of the search. `quality` is null for a lossless PNG. */
export interface SizeAttempt {
  quality: number | null;
  scale: number;
  bytes: number;
  /**
   * Set on an encode of the stripe sample (see `stripeSample`): the share of the image's rows it
   * holds, about 1/4. Absent on an encode of the whole image.
   */
  sample?: number;
}

export interface SizeMetadata {
  targetBytes: number | null;
  bytes: number;
  /** The quality of the returned encode (null for lossless PNG). */
  quality: number | null;
  /** The normal quality: the encode without a target and the ceiling of the search (null: lossless PNG). */
  normalQuality: number | null;
  /** How many encodes the search took, the stripe sample's included. */
  encodes: number;
  /** How many of them were of the stripe sample (each about a quarter of a whole encode). */
  sampleEncodes: number;
  attempts: SizeAttempt[];
  /**
   * - "fits-at-default": the encode at the normal quality (lossless, for PNG) is at most the target:
   *   it is the output, however far under the target, and no lower quality is searched.
   * - "met": at most the target and within 10% under it. Usually at full size; when one integer step of
   *   quality jumps over the whole window (q under it, q + 1 over it at full size), it is q + 1 at a
   *   slightly smaller size (scale ≥ 0.85, typically 0.93–0.98).
   * - "below-window": under the target by more than 10%, at full size: one quality step jumps over the
   *   whole window and no slightly smaller size of the step above landed in it (or the encode cap ended
   *   the search). The best full-size encode under the target.
   * - "under-at-max-quality": PNG only: lossless is over the target and the top palette quality
   *   under it by more than 10%.
   * - "scaled-down": the lowest acceptable quality was still over the target (a whole encode, or the
   *   stripe sample clearly), so the image was scaled down (at that quality) until it fit.
   */
  outcome: "no-target" | "fits-at-default" | "met" | "below-window" | "under-at-max-quality" | "scaled-down";
  /** Output width ÷ input width: 1 unless "scaled-down", or "met" across a quality step. */
  scale: number;
  /** The library that wrote the returned bytes, e.g. "mozjpeg", "libwebp", "libpng", "libheif/aom". */
  encoder: string;
}

export interface Encoded {
  body: Buffer;
  format: OutputFormat;
  contentType: string;
  extension: string;
  width: number;
  height: number;
  bytes: number;
  size: SizeMetadata;
}

interface FormatSettings {
  contentType: string;
  extension: string;
  encoder: string;
  /**
   * The normal quality, part of each variant's recipe: the quality without a target, and the top of
   * the target search (a budget is never spent on a quality above it). Null = lossless (PNG).
   */
  quality: number | null;
  /** The quality floor of the target search: below it the image is scaled down instead. */
  minQuality: number;
  /** PNG only: the top of the palette search, under a lossless encode over the target. */
  maxQuality?: number;
  /** Prior d ln(bytes) / d x, with x = −ln(101 − quality), until two encodes measure it. */
  slope: number;
  /**
   * Prior for whole-image bytes ÷ (stripe-sample bytes ÷ its share of the rows), until a whole encode
   * measures it. Below 1 because each stripe's first row of blocks is predicted from unrelated pixels.
   * Null for PNG, which is searched on the whole image.
   */
  sampleRatio: number | null;
}

/**
 * Every tunable of the encoders and the target-size search, with the measurements behind them
 * (LadyBird/Wood at 1600 px and apple upscaled to 1200 px, sharp 0.35.5, libvips 8.18, 2 cores).
 */
export const ENCODE_DEFAULTS = {
  background: { r: 255, g: 255, b: 255 },
  /**
   * AVIF effort (libaom speed 9): at 2000 px an encode takes ~0.15 s at effort 0, ~0.7 s at 2 and 4.5–6.5 s
   * at 4, and at an equal size effort 4 only gains ~0.4 dB PSNR. A target search needs 2–4 encodes.
   */
  avifEffort: 0,
  /** Lossless PNG: all row filters at zlib level 6 halve a photo's size (vs no filter) in ~0.2 s per 1.6 MP. */
  pngLossless: { compressionLevel: 6, adaptiveFiltering: true },
  /** libimagequant effort: 1 takes ~0.45 s per 1.6 MP photo, the default 7 takes ~2.3 s for ~20% fewer bytes. */
  pngPaletteEffort: 1,
  /**
   * mozjpeg's preset (trellis quantisation, progressive, its quantisation tables) without its scan
   * optimisation, which tries many progressive scan layouts: at q85 on 2000 px photos it costs 25–40%
   * of the encode's CPU (2000×1125: 362 → 277 ms) for 0.1–5% of the bytes (median 2%). A product page
   * saves more with a 2% lower target size; a pipeline billed by CPU time does not get it back.
   */
  mozjpeg: { mozjpeg: true, optimiseScans: false },
  search: {
    minTargetKb: 50,
    maxTargetKb: 2000,
    /** The output is accepted once it is within [lowerBound × target, target]. */
    lowerBound: 0.9,
    /** Predictions aim at the middle of that window, so a ±5% model error still lands in it. */
    aim: 0.95,
    /** Encodes of the quality search and the scale search together. */
    maxEncodes: 7,
    /**
     * The stripe sample (see `stripeSample`): stripes of `sampleStripeRows` rows (a multiple of the
     * 16-row macroblock of JPEG 4:2:0 and WebP), one per `sampleRowsPerStripe` rows, so it holds a
     * quarter of the image at full resolution; images with fewer than `sampleMinStripes` stripes are
     * searched whole. 8 stripes of 32 rows predict a whole 1600 px WebP within 0.83–1.01× and a whole
     * mozjpeg within 0.93–1.03× on the corpus, with less than ±2% drift across 10 quality steps; a
     * half-size copy predicts within 0.57–1.12×, because detail per pixel changes with the scale.
     */
    sampleStripeRows: 32,
    sampleRowsPerStripe: 128,
    sampleMinStripes: 4,
    /**
     * A target of at least this many bytes per pixel is tried first with one whole encode at the normal
     * quality, without the sample: well above what photos measure at the normal qualities (a product
     * shot at 400–700 px under a 200 KB target), so that encode almost always fits and is the answer,
     * where the sample would have cost a quarter of an encode for nothing. If it does not fit, it is the
     * search's first measurement.
     */
    wholeFirstBytesPerPixel: 0.5,
    /** The sample search ends inside aim ± this (of the target), so a whole encode has room either way. */
    sampleWindow: 0.025,
    /** Sample encodes per round, and rounds (a whole encode ends each, then corrects the ratio). */
    sampleEncodesPerRound: 6,
    sampleRounds: 2,
    /**
     * When the sample predicts the quality floor's whole encode over the target by more than this
     * factor (beyond the sample's error), that encode is not made: the scale search starts from the
     * prediction, since only a smaller size can fit.
     */
    sampleClearlyOver: 1.15,
    /**
     * Crossing a quality step that jumps over the window (integer steps are 10–22% apart at q 88–95):
     * up to 3 more encodes of q + 1 at a slightly smaller size, only if that size keeps ≥ 85% of the width.
     */
    stepCrossingEncodes: 3,
    stepCrossingMinScale: 0.85,
    /** Measured slopes outside this range come from noise (two nearly equal encodes) and are clamped. */
    slopeRange: [0.15, 3],
    /**
     * Scale search: bytes ∝ scale^exponent until two encodes measure it. 2 (bytes ∝ pixels, i.e. scale by
     * the square root of the size ratio) overshoots on photos, whose detail per pixel rises as they
     * shrink: they measure 1.8–2.0, so 1.8 lands the first scaled encode in the window more often.
     */
    scaleExponent: 1.8,
    scaleExponentRange: [0.8, 3],
  },
  formats: {
    jpeg: {
      contentType: "image/jpeg",
      extension: "jpg",
      encoder: "mozjpeg",
      quality: 85,
      minQuality: 30,
      slope: 0.9,
      sampleRatio: 0.99,
    },
    webp: {
      contentType: "image/webp",
      extension: "webp",
      encoder: "libwebp",
      quality: 82,
      minQuality: 30,
      slope: 0.9,
      sampleRatio: 0.94,
    },
    avif: {
      contentType: "image/avif",
      extension: "avif",
      encoder: "libheif/aom",
      quality: 60,
      minQuality: 25,
      slope: 1.2,
      sampleRatio: 0.95,
    },
    png: {
      contentType: "image/png",
      extension: "png",
      encoder: "libpng",
      quality: null,
      minQuality: 50,
      maxQuality: 100,
      // Palette size barely moves with quality on photos: from an under-target floor, go to the top.
      slope: 0.05,
      sampleRatio: null,
    },
  } satisfies Record<OutputFormat, FormatSettings>,
} as const;

/** The palette (quantised) PNG encoder, named in SizeMetadata.encoder. */
const PNG_PALETTE_ENCODER = "libimagequant+libpng";

const settingsOf = (format: OutputFormat): FormatSettings => ENCODE_DEFAULTS.formats[format];

/** One search's range of qualities: the format's floor up to the normal quality (the ceiling). */
type SearchSettings = Omit<FormatSettings, "maxQuality"> & { maxQuality: number };

const isIntegerIn = (value: number, min: number, max: number): boolean =>
  Number.isInteger(value) && value >= min && value <= max;

const validate = (image: RawImage, options: EncodeOptions): void => {
  if (!(options.format in ENCODE_DEFAULTS.formats)) {
    throw new RangeError(`unknown output format ${JSON.stringify(options.format)}`);
  }
  if (image.data.length !== image.width * image.height * image.channels) {
    throw new RangeError(
      `a ${image.width}×${image.height}×${image.channels} image needs ${image.width * image.height * image.channels} bytes, got ${image.data.length}`,
    );
  }
  const { minTargetKb, maxTargetKb } = ENCODE_DEFAULTS.search;
  if (
    options.targetKb !== undefined &&
    !(Number.isFinite(options.targetKb) && options.targetKb >= minTargetKb && options.targetKb <= maxTargetKb)
  ) {
    throw new RangeError(`targetKb must be ${minTargetKb}–${maxTargetKb}, got ${options.targetKb}`);
  }
  if (options.quality !== undefined && !isIntegerIn(options.quality, 1, 100)) {
    throw new RangeError(`quality must be an integer 1–100, got ${options.quality}`);
  }
  if (options.avifEffort !== undefined && !isIntegerIn(options.avifEffort, 0, 9)) {
    throw new RangeError(`avifEffort must be an integer 0–9, got ${options.avifEffort}`);
  }
};

/** JPEG always, the others unless keepAlpha: alpha is composited on white once, before any encode. */
const prepare = async (image: RawImage, options: EncodeOptions): Promise<RawImage> => {
  const flatten = options.format === "jpeg" || !options.keepAlpha;
  if (image.channels === 3 || !flatten) return image;
  return toRaw(fromRaw(image).flatten({ background: ENCODE_DEFAULTS.background }));
};

/**
 * One encode of in-memory pixels. sRGB, and no metadata at all: sharp writes none (EXIF, XMP, ICC)
 * unless keepMetadata/withMetadata is called, and a RawImage carries none anyway.
 */
const encodeOnce = (image: RawImage, format: OutputFormat, quality: number | null, avifEffort: number) => {
  const pipeline: Sharp = fromRaw(image).toColourspace("srgb");
  switch (format) {
    case "jpeg":
      return pipeline.jpeg({ quality: quality ?? undefined, ...ENCODE_DEFAULTS.mozjpeg }).toBuffer();
    case "webp":
      return pipeline.webp({ quality: quality ?? undefined }).toBuffer();
    case "avif":
      return pipeline.avif({ quality: quality ?? undefined, effort: avifEffort }).toBuffer();
    case "png":
      return quality === null
        ? pipeline.png(ENCODE_DEFAULTS.pngLossless).toBuffer()
        : pipeline.png({ palette: true, quality, effort: ENCODE_DEFAULTS.pngPaletteEffort }).toBuffer();
  }
};

interface Candidate {
  body: Buffer;
  quality: number | null;
  scale: number;
  width: number;
  height: number;
}

/**
 * Evenly spaced full-width stripes of the image, stacked: a quarter of its rows at full resolution.
 * Bytes per pixel depend on the scale (a half-size copy packs 0.6–1.4× the detail per pixel of the
 * whole), so the sample keeps the scale and samples the rows instead. No library cuts such a sample;
 * it is a copy of whole rows.
 */
interface StripeSample {
  image: RawImage;
  /** Sample rows ÷ image rows. */
  share: number;
}

const stripeSample = (image: RawImage): StripeSample | undefined => {
  const { sampleStripeRows, sampleRowsPerStripe, sampleMinStripes } = ENCODE_DEFAULTS.search;
  const stripes = Math.floor(image.height / sampleRowsPerStripe);
  if (stripes < sampleMinStripes) return undefined;
  const rowBytes = image.width * image.channels;
  const stripeBytes = sampleStripeRows * rowBytes;
  const data = Buffer.allocUnsafe(stripes * stripeBytes);
  for (let stripe = 0; stripe < stripes; stripe += 1) {
    // Centred in its share of the image, so the top and bottom edges are sampled like the middle.
    const top = Math.round(((stripe + 0.5) * image.height) / stripes - sampleStripeRows / 2);
    image.data.copy(data, stripe * stripeBytes, top * rowBytes, top * rowBytes + stripeBytes);
  }
  const rows = stripes * sampleStripeRows;
  return {
    image: { data, width: image.width, height: rows, channels: image.channels },
    share: rows / image.height,
  };
};

/** Runs the encodes of one `encode` call and records each as an attempt. */
interface Encoder {
  format: OutputFormat;
  attempts: SizeAttempt[];
  /** Encodes of the whole image (or a scaled copy of it). */
  readonly wholeEncodes: number;
  readonly sampleEncodes: number;
  run: (image: RawImage, quality: number | null, scale: number) => Promise<Candidate>;
  /** Encodes the stripe sample and returns its size in bytes. */
  runSample: (sample: StripeSample, quality: number) => Promise<number>;
}

const createEncoder = (format: OutputFormat, avifEffort: number): Encoder => {
  const attempts: SizeAttempt[] = [];
  return {
    format,
    attempts,
    get wholeEncodes() {
      return attempts.filter((attempt) => attempt.sample === undefined).length;
    },
    get sampleEncodes() {
      return attempts.filter((attempt) => attempt.sample !== undefined).length;
    },
    run: async (image, quality, scale) => {
      const body = await encodeOnce(image, format, quality, avifEffort);
      attempts.push({ quality, scale, bytes: body.length });
      return { body, quality, scale, width: image.width, height: image.height };
    },
    runSample: async (sample, quality) => {
      const { length } = await encodeOnce(sample.image, format, quality, avifEffort);
      attempts.push({ quality, scale: 1, bytes: length, sample: Number(sample.share.toFixed(4)) });
      return length;
    },
  };
};

/** The quality axis on which bytes are close to linear in log space: ln(bytes) ≈ a + slope · x(quality). */
const x = (quality: number): number => -Math.log(101 - quality);
const qualityAt = (xValue: number): number => 101 - Math.exp(-xValue);

const clamp = (value: number, [min, max]: readonly [number, number]): number =>
  Math.min(max, Math.max(min, value));

/**
 * The next integer quality to encode for `goal` bytes, strictly inside the bracket (under, over):
 * a secant step in (x(quality), ln bytes) between the bracket's ends when both are measured, else an
 * extrapolation from the nearest end with the slope of the last two measurements (or the prior).
 * A quality already measured is replaced by the bracket's midpoint.
 */
const nextQuality = (
  measured: ReadonlyMap<number, number>,
  under: number,
  over: number,
  goal: number,
  settings: SearchSettings,
): number => {
  const { slopeRange } = ENCODE_DEFAULTS.search;
  const underBytes = measured.get(under);
  const overBytes = measured.get(over);
  let predictedX: number;
  if (underBytes !== undefined && overBytes !== undefined) {
    const t = (Math.log(goal) - Math.log(underBytes)) / (Math.log(overBytes) - Math.log(underBytes));
    predictedX = x(under) + t * (x(over) - x(under));
  } else {
    const [nearQuality, nearBytes] = (underBytes !== undefined ? [under, underBytes] : [over, overBytes]) as [
      number,
      number,
    ];
    const previous = [...measured].filter(([quality]) => quality !== nearQuality).at(-1);
    let slope = settings.slope;
    if (previous) {
      const [otherQuality, otherBytes] = previous;
      slope = clamp(
        (Math.log(nearBytes) - Math.log(otherBytes)) / (x(nearQuality) - x(otherQuality)),
        slopeRange as [number, number],
      );
    }
    predictedX = x(nearQuality) + (Math.log(goal) - Math.log(nearBytes)) / slope;
  }
  let next = Math.round(clamp(qualityAt(predictedX), [under + 1, over - 1]));
  next = clamp(next, [settings.minQuality, settings.maxQuality]);
  return measured.has(next) ? Math.floor((under + over) / 2) : next;
};

/** The highest measured quality at most `ceiling` bytes, and the lowest above it that is over. */
const bracketOf = (
  measured: ReadonlyMap<number, number>,
  ceiling: number,
  settings: SearchSettings,
): { under: number; over: number } => {
  const under = Math.max(
    settings.minQuality - 1,
    ...[...measured].filter(([, bytes]) => bytes <= ceiling).map(([quality]) => quality),
  );
  const over = Math.min(
    settings.maxQuality + 1,
    ...[...measured]
      .filter(([quality, bytes]) => bytes > ceiling && quality > under)
      .map(([quality]) => quality),
  );
  return { under, over };
};

/**
 * On the stripe sample, the quality whose predicted whole size (sample bytes × ratio ÷ share) lands
 * in aim ± `sampleWindow` of the target, with the same secant steps as the whole-image search at a
 * quarter of the cost per encode. `measured` (sample bytes by quality) carries over between rounds,
 * so a corrected ratio often needs no new encode. Where one quality step jumps over that narrow
 * window (or the round's encodes run out), the measured quality predicted nearest the aim.
 */
const qualityFromSample = async (
  encoder: Encoder,
  sample: StripeSample,
  measured: Map<number, number>,
  targetBytes: number,
  ratio: number,
  settings: SearchSettings,
): Promise<number> => {
  const { aim, sampleWindow, sampleEncodesPerRound } = ENCODE_DEFAULTS.search;
  const perWholeByte = sample.share / ratio;
  const goal = aim * targetBytes * perWholeByte;
  const [low, high] = [
    (aim - sampleWindow) * targetBytes * perWholeByte,
    (aim + sampleWindow) * targetBytes * perWholeByte,
  ];
  const nearestAim = (entries: [number, number][]) =>
    (
      entries.reduce((best, entry) =>
        Math.abs(Math.log(entry[1] / goal)) < Math.abs(Math.log(best[1] / goal)) ? entry : best,
      ) as [number, number]
    )[0];

  for (let encodes = 0; ; encodes += 1) {
    const inWindow = [...measured].filter(([, bytes]) => bytes >= low && bytes <= high);
    if (inWindow.length > 0) return nearestAim(inWindow);
    const { under, over } = bracketOf(measured, high, settings);
    // Even the top quality is predicted under the window, or even the floor over it.
    if (under === settings.maxQuality) return under;
    if (over === settings.minQuality) return over;
    if (measured.size > 0 && (over - under <= 1 || encodes >= sampleEncodesPerRound)) {
      return nearestAim([...measured]);
    }
    // The first probe is the normal quality: if it fits, it is the answer and nothing is searched.
    const quality =
      measured.size === 0 ? settings.maxQuality : nextQuality(measured, under, over, goal, settings);
    measured.set(quality, await encoder.runSample(sample, quality));
  }
};

type QualitySearch =
  | { kind: "met"; best: Candidate }
  | { kind: "fits-at-ceiling"; best: Candidate }
  | { kind: "over-at-min-quality"; bytes: number };

/** What one whole-image encode at `quality` settles, if anything. */
const settledBy = (
  candidate: Candidate,
  targetBytes: number,
  settings: SearchSettings,
): QualitySearch | undefined => {
  const bytes = candidate.body.length;
  // The ceiling fitting ends the search however far under the target it is: the budget is not spent.
  if (bytes <= targetBytes && candidate.quality === settings.maxQuality) {
    return { kind: "fits-at-ceiling", best: candidate };
  }
  if (bytes <= targetBytes && bytes >= ENCODE_DEFAULTS.search.lowerBound * targetBytes) {
    return { kind: "met", best: candidate };
  }
  if (bytes > targetBytes && candidate.quality === settings.minQuality)
    return { kind: "over-at-min-quality", bytes };
  return undefined;
};

/**
 * Integer quality in [minQuality, maxQuality] for the largest whole-image encode ≤ target, from
 * `start` (whole encodes already made, e.g. by the sample rounds) or else from the ceiling: secant
 * steps (see `nextQuality`) inside the bracket [highest quality under the target, lowest quality over
 * it]. Stops at the ceiling (under), in the window, at the min (over), when the bracket has no integer
 * left inside (one step jumps over the window) or at the encode cap.
 */
const searchQuality = async (
  encoder: Encoder,
  image: RawImage,
  targetBytes: number,
  settings: SearchSettings,
  start: { made: readonly Candidate[] } | { firstProbe: number },
): Promise<QualitySearch> => {
  const { minQuality } = settings;
  const { aim, maxEncodes } = ENCODE_DEFAULTS.search;
  const measured = new Map<number, number>();
  let best: Candidate | undefined;
  const consider = (candidate: Candidate): QualitySearch | undefined => {
    const bytes = candidate.body.length;
    measured.set(candidate.quality as number, bytes);
    // Equal sizes (a flat stretch of the curve): keep the higher quality.
    if (
      bytes <= targetBytes &&
      (!best ||
        bytes > best.body.length ||
        (bytes === best.body.length && (candidate.quality ?? 0) > (best.quality ?? 0)))
    ) {
      best = candidate;
    }
    return settledBy(candidate, targetBytes, settings);
  };
  const made = "made" in start ? start.made : [];
  for (const candidate of made) {
    const settled = consider(candidate);
    if (settled) return settled;
  }

  let quality: number | undefined = "firstProbe" in start ? start.firstProbe : undefined;
  for (;;) {
    if (quality !== undefined) {
      const settled = consider(await encoder.run(image, quality, 1));
      if (settled) return settled;
    }
    const { under, over } = bracketOf(measured, targetBytes, settings);
    if (best && (over - under <= 1 || encoder.wholeEncodes >= maxEncodes)) return { kind: "met", best };
    if (!best && encoder.wholeEncodes >= maxEncodes) {
      // Out of encodes with everything over: the floor decides between a result and scaling down.
      quality = minQuality;
      continue;
    }
    quality = nextQuality(measured, under, over, aim * targetBytes, settings);
  }
};

/**
 * The quality search with the stripe sample: find on the sample the quality predicted to land on the
 * aim, confirm it with one whole encode, and if that misses the window, correct the whole ÷ sample
 * ratio with what it measured and try once more (the ratio drifts under 2% across 10 quality steps,
 * so the second lands). Usually one or two whole encodes plus a whole encode's worth of sample
 * encodes, against three to five whole encodes searching on the image itself. If both rounds miss,
 * the whole-image search takes over from the two encodes made.
 */
const searchQualityBySample = async (
  encoder: Encoder,
  image: RawImage,
  sample: StripeSample,
  targetBytes: number,
  settings: SearchSettings,
): Promise<QualitySearch> => {
  const sampleBytes = new Map<number, number>();
  const whole: Candidate[] = [];
  let ratio = settings.sampleRatio ?? 1;
  for (let round = 0; round < ENCODE_DEFAULTS.search.sampleRounds; round += 1) {
    const quality = await qualityFromSample(encoder, sample, sampleBytes, targetBytes, ratio, settings);
    if (whole.some((candidate) => candidate.quality === quality)) break;
    const predicted = ((sampleBytes.get(quality) as number) * ratio) / sample.share;
    if (
      quality === settings.minQuality &&
      predicted > ENCODE_DEFAULTS.search.sampleClearlyOver * targetBytes
    ) {
      return { kind: "over-at-min-quality", bytes: predicted };
    }
    const candidate = await encoder.run(image, quality, 1);
    whole.push(candidate);
    const settled = settledBy(candidate, targetBytes, settings);
    if (settled) return settled;
    ratio = (candidate.body.length * sample.share) / (sampleBytes.get(quality) as number);
  }
  return searchQuality(encoder, image, targetBytes, settings, { made: whole });
};

/** The image resized to `scale` of its width (at least 1 px) and encoded; the candidate carries the scale its whole pixels give. */
const encodeScaled = async (
  encoder: Encoder,
  image: RawImage,
  quality: number,
  scale: number,
): Promise<Candidate> => {
  const width = Math.max(1, Math.round(image.width * scale));
  const height = Math.max(1, Math.round(image.height * scale));
  const scaled = await toRaw(fromRaw(image).resize(width, height, { fit: "fill" }));
  return encoder.run(scaled, quality, width / image.width);
};

/**
 * The scale at the quality floor for the largest encode ≤ target (`bytesAtFullSize` measured, or
 * predicted by the stripe sample): first bytes ∝ scale^1.8 (close to
 * the square root of the size ratio), then the exponent measured by two encodes, then secant steps in
 * (ln width, ln bytes) inside the bracket [widest under the target, narrowest over it]. Each attempt
 * resizes the full-size pixels once (never an already-shrunk copy) and encodes that. The
 * target is a hard ceiling: if the cap is reached with every encode still over, it keeps shrinking
 * (aiming lower each time) beyond the cap.
 */
const searchScale = async (
  encoder: Encoder,
  image: RawImage,
  targetBytes: number,
  quality: number,
  bytesAtFullSize: number,
): Promise<Candidate> => {
  const { lowerBound, aim, maxEncodes, scaleExponent, scaleExponentRange } = ENCODE_DEFAULTS.search;
  const measured = new Map<number, number>([[image.width, bytesAtFullSize]]); // width → bytes
  let best: Candidate | undefined;
  let scale = ((aim * targetBytes) / bytesAtFullSize) ** (1 / scaleExponent);

  for (;;) {
    const candidate = await encodeScaled(encoder, image, quality, scale);
    const { width } = candidate;
    const bytes = candidate.body.length;
    measured.set(width, bytes);
    if (bytes <= targetBytes) {
      if (!best || bytes > best.body.length) best = candidate;
      if (bytes >= lowerBound * targetBytes) return candidate;
    }

    const under = Math.max(0, ...[...measured].filter(([, b]) => b <= targetBytes).map(([w]) => w));
    const over = Math.min(...[...measured].filter(([w, b]) => b > targetBytes && w > under).map(([w]) => w));
    if (best && (over - under <= 1 || encoder.wholeEncodes >= maxEncodes)) return best;
    if (width === 1 && !best)
      throw new Error(`a 1-pixel-wide ${encoder.format} is still over ${targetBytes} bytes`);

    const overBytes = measured.get(over) as number;
    const underBytes = measured.get(under);
    // Past the cap, aim further under the target each time so the loop ends in a few encodes.
    const pastCap = encoder.wholeEncodes - maxEncodes + 1;
    const goal = Math.log((pastCap > 0 ? aim * 0.9 ** pastCap : aim) * targetBytes);
    let predictedWidth: number;
    if (underBytes !== undefined) {
      const t = (goal - Math.log(underBytes)) / (Math.log(overBytes) - Math.log(underBytes));
      predictedWidth = Math.exp(Math.log(under) + t * (Math.log(over) - Math.log(under)));
    } else {
      // Every encode is over: measure the exponent from the two smallest, else assume bytes ∝ pixels.
      const overs = [...measured].sort(([a], [b]) => a - b);
      const [first, second] = overs;
      let exponent: number = scaleExponent;
      if (first && second && first[1] !== second[1]) {
        exponent = clamp(
          (Math.log(second[1]) - Math.log(first[1])) / (Math.log(second[0]) - Math.log(first[0])),
          scaleExponentRange as [number, number],
        );
      }
      predictedWidth = over * Math.exp((goal - Math.log(overBytes)) / exponent);
    }
    let nextWidth = Math.round(clamp(predictedWidth, [under + 1, over - 1]));
    if (measured.has(nextWidth)) nextWidth = Math.floor((under + over) / 2);
    scale = nextWidth / image.width;
  }
};

/**
 * One integer step of quality can jump clean over the 10% window (a WebP photo: q38 under at 87%,
 * q39 over). Then the step above, at a slightly smaller size, lands inside: bytes scale about with
 * area, so the width first shrinks by the square root of the overshoot, then by the secant of what was
 * measured. At most `stepCrossingEncodes` more encodes, and never below `stepCrossingMinScale` of the
 * width; the full-size result under the window stands if none lands in it.
 */
const refineAcrossStep = async (
  encoder: Encoder,
  image: RawImage,
  targetBytes: number,
  best: Candidate,
): Promise<Candidate> => {
  const { lowerBound, aim, stepCrossingEncodes, stepCrossingMinScale } = ENCODE_DEFAULTS.search;
  const stepUp = (best.quality ?? 0) + 1;
  const overAtFullSize = encoder.attempts.find(
    (attempt) => attempt.quality === stepUp && attempt.scale === 1 && attempt.sample === undefined,
  )?.bytes;
  if (overAtFullSize === undefined) return best;
  // (scale, bytes) of the step up: bytes ∝ area until two sizes measure the curve. Resampling can
  // sharpen a slight shrink enough to add bytes, so the measured secant is what finds the window.
  const measured: [number, number][] = [[1, overAtFullSize]];
  const goal = aim * targetBytes;
  for (let tries = 0; tries < stepCrossingEncodes; tries += 1) {
    const [[nearScale, nearBytes], other] = [...measured].sort(
      ([, a], [, b]) => Math.abs(Math.log(a / goal)) - Math.abs(Math.log(b / goal)),
    ) as [[number, number], [number, number] | undefined];
    const exponent =
      other && other[1] !== nearBytes && other[0] !== nearScale
        ? Math.log(other[1] / nearBytes) / Math.log(other[0] / nearScale)
        : 2;
    const scale = Math.min(0.999, nearScale * (goal / nearBytes) ** (1 / Math.max(0.5, exponent)));
    // A step too tall to cross by a slight shrink: the full-size result under the window stands.
    const width = Math.max(1, Math.round(image.width * scale));
    if (
      scale < stepCrossingMinScale ||
      measured.some(([measuredScale]) => measuredScale === width / image.width)
    )
      break;
    const candidate = await encodeScaled(encoder, image, stepUp, scale);
    const bytes = candidate.body.length;
    if (bytes <= targetBytes && bytes >= lowerBound * targetBytes) return candidate;
    measured.push([candidate.scale, bytes]);
  }
  return best;
};

const encoderName = (format: OutputFormat, quality: number | null): string =>
  format === "png" && quality !== null ? PNG_PALETTE_ENCODER : settingsOf(format).encoder;

const result = (
  format: OutputFormat,
  candidate: Candidate,
  encoder: Encoder,
  { targetBytes, normalQuality, outcome }: Pick<SizeMetadata, "targetBytes" | "normalQuality" | "outcome">,
): Encoded => {
  const settings = settingsOf(format);
  return {
    body: candidate.body,
    format,
    contentType: settings.contentType,
    extension: settings.extension,
    width: candidate.width,
    height: candidate.height,
    bytes: candidate.body.length,
    size: {
      targetBytes,
      bytes: candidate.body.length,
      quality: candidate.quality,
      normalQuality,
      encodes: encoder.attempts.length,
      sampleEncodes: encoder.sampleEncodes,
      attempts: encoder.attempts,
      outcome,
      scale: candidate.scale,
      encoder: encoderName(format, candidate.quality),
    },
  };
};

/**
 * Encodes decoded pixels as JPEG (mozjpeg), PNG, WebP or AVIF: sRGB, no metadata, alpha flattened on
 * white unless kept. With `targetKb`, finds in a few encodes the best quality whose output is at most
 * the target and (when the quality steps allow it) within 10% under it; if even the quality floor is
 * over, scales the image down at that floor instead. PNG is lossless first, then palette-quantised
 * (libimagequant quality as the knob), then scaled down. Deterministic: same pixels and options,
 * same bytes and attempts.
 */
export const encode = async (image: RawImage, options: EncodeOptions): Promise<Encoded> => {
  validate(image, options);
  const { format } = options;
  const settings = settingsOf(format);
  const encoder = createEncoder(format, options.avifEffort ?? ENCODE_DEFAULTS.avifEffort);
  const prepared = await prepare(image, options);
  const normalQuality = options.quality ?? settings.quality;
  const done = (candidate: Candidate, targetBytes: number | null, outcome: SizeMetadata["outcome"]) =>
    result(format, candidate, encoder, { targetBytes, normalQuality, outcome });

  if (options.targetKb === undefined)
    return done(await encoder.run(prepared, normalQuality, 1), null, "no-target");

  const targetBytes = Math.floor(options.targetKb * 1024);
  const { lowerBound } = ENCODE_DEFAULTS.search;
  const inWindow = (candidate: Candidate) => candidate.body.length >= lowerBound * targetBytes;
  if (format === "png" && normalQuality === null) {
    const lossless = await encoder.run(prepared, null, 1);
    if (lossless.body.length <= targetBytes) return done(lossless, targetBytes, "fits-at-default");
    // Then the palette floor: photos quantise to much the same size at any palette quality, so the
    // floor settles at once whether a palette alone can reach the target.
  }

  const search: SearchSettings = {
    ...settings,
    // Lossy: the normal quality is the ceiling. PNG: lossless was over, so the palette's whole range.
    maxQuality: normalQuality ?? settings.maxQuality ?? 100,
    minQuality: Math.min(settings.minQuality, normalQuality ?? settings.minQuality),
  };
  const likelyFits =
    targetBytes >= ENCODE_DEFAULTS.search.wholeFirstBytesPerPixel * prepared.width * prepared.height;
  const sample = format === "png" || likelyFits ? undefined : stripeSample(prepared);
  const found = sample
    ? await searchQualityBySample(encoder, prepared, sample, targetBytes, search)
    : await searchQuality(encoder, prepared, targetBytes, search, {
        firstProbe: format === "png" && normalQuality === null ? search.minQuality : search.maxQuality,
      });
  switch (found.kind) {
    case "fits-at-ceiling":
      if (found.best.quality === normalQuality) return done(found.best, targetBytes, "fits-at-default");
      return done(found.best, targetBytes, inWindow(found.best) ? "met" : "under-at-max-quality");
    case "met": {
      const chosen =
        inWindow(found.best) || format === "png"
          ? found.best
          : await refineAcrossStep(encoder, prepared, targetBytes, found.best);
      return done(chosen, targetBytes, inWindow(chosen) ? "met" : "below-window");
    }
    case "over-at-min-quality": {
      const scaled = await searchScale(encoder, prepared, targetBytes, search.minQuality, found.bytes);
      return done(scaled, targetBytes, "scaled-down");
    }
  }
};
