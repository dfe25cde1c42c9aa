import type { Sharp } from "sharp";
import { fromRaw, type RawImage, toRaw } from "./raw-image.ts";

export type OutputFormat = "jpeg" | "png" | "webp" | "avif";

export interface EncodeOptions {
  format: OutputFormat;
  /** Target size in KB (1 KB = 1024 bytes), 50–2000: the output must never be above it and should be within 10% under it. */
  targetKb?: number;
  /** Fixed quality when there is no target (defaults per format, in ENCODE_DEFAULTS). For PNG it asks for palette quantisation. */
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
}

export interface SizeMetadata {
  targetBytes: number | null;
  bytes: number;
  /** The quality of the returned encode (null for lossless PNG). */
  quality: number | null;
  /** How many encodes the search took. */
  encodes: number;
  attempts: SizeAttempt[];
  /**
   * - "met": at most the target and within 10% under it. Usually at full size; when one integer step of
   *   quality jumps over the whole window (q under it, q + 1 over it at full size), it is q + 1 at a
   *   slightly smaller size (scale ≥ 0.85, typically 0.95–0.98). Only if that crossing misses too (or the
   *   encode cap ends the search) is it the best full-size encode under the window.
   * - "under-at-max-quality": even the top quality stays under the target (for PNG: lossless, or the
   *   top palette quality when lossless is over the target).
   * - "scaled-down": the lowest acceptable quality was still over the target, so the image was scaled down
   *   (at that quality) until it fit.
   */
  outcome: "no-target" | "met" | "under-at-max-quality" | "scaled-down";
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
  /** Quality without a target; null = lossless (PNG). */
  quality: number | null;
  /** The quality floor of the target search: below it the image is scaled down instead. */
  minQuality: number;
  /** The top of the target search. */
  maxQuality: number;
  /**
   * Prior for the first probe: bytes per pixel of a typical photo at `search.referenceQuality`. Null for
   * PNG, whose probes go in a fixed order: lossless, then the palette floor.
   */
  bytesPerPixel: number | null;
  /** Prior d ln(bytes) / d x, with x = −ln(101 − quality), until two encodes measure it. */
  slope: number;
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
     * Crossing a quality step that jumps over the window (integer steps are 10–22% apart at q 88–95):
     * up to 2 more encodes of q + 1 at a slightly smaller size, only if that size keeps ≥ 85% of the width.
     */
    stepCrossingEncodes: 2,
    stepCrossingMinScale: 0.85,
    /** The quality at which `bytesPerPixel` priors are expressed. */
    referenceQuality: 75,
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
      maxQuality: 95,
      bytesPerPixel: 0.05,
      slope: 0.9,
    },
    webp: {
      contentType: "image/webp",
      extension: "webp",
      encoder: "libwebp",
      quality: 82,
      minQuality: 30,
      maxQuality: 95,
      bytesPerPixel: 0.032,
      slope: 0.9,
    },
    avif: {
      contentType: "image/avif",
      extension: "avif",
      encoder: "libheif/aom",
      quality: 60,
      minQuality: 25,
      maxQuality: 95,
      bytesPerPixel: 0.063,
      slope: 1.2,
    },
    png: {
      contentType: "image/png",
      extension: "png",
      encoder: "libpng",
      quality: null,
      minQuality: 50,
      maxQuality: 100,
      bytesPerPixel: null,
      // Palette size barely moves with quality on photos: from an under-target floor, go to the top.
      slope: 0.05,
    },
  } satisfies Record<OutputFormat, FormatSettings>,
} as const;

/** The palette (quantised) PNG encoder, named in SizeMetadata.encoder. */
const PNG_PALETTE_ENCODER = "libimagequant+libpng";

const settingsOf = (format: OutputFormat): FormatSettings => ENCODE_DEFAULTS.formats[format];

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
      return pipeline.jpeg({ quality: quality ?? undefined, mozjpeg: true }).toBuffer();
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

/** Runs the encodes of one `encode` call and records each as an attempt. */
interface Encoder {
  format: OutputFormat;
  attempts: SizeAttempt[];
  readonly encodes: number;
  run: (image: RawImage, quality: number | null, scale: number) => Promise<Candidate>;
}

const createEncoder = (format: OutputFormat, avifEffort: number): Encoder => {
  const attempts: SizeAttempt[] = [];
  return {
    format,
    attempts,
    get encodes() {
      return attempts.length;
    },
    run: async (image, quality, scale) => {
      const body = await encodeOnce(image, format, quality, avifEffort);
      attempts.push({ quality, scale, bytes: body.length });
      return { body, quality, scale, width: image.width, height: image.height };
    },
  };
};

/** The quality axis on which bytes are close to linear in log space: ln(bytes) ≈ a + slope · x(quality). */
const x = (quality: number): number => -Math.log(101 - quality);
const qualityAt = (xValue: number): number => 101 - Math.exp(-xValue);

const clamp = (value: number, [min, max]: readonly [number, number]): number =>
  Math.min(max, Math.max(min, value));

type QualitySearch =
  | { kind: "met" | "under-at-max-quality"; best: Candidate }
  | { kind: "over-at-min-quality"; bytes: number };

/**
 * Integer quality in [minQuality, maxQuality] for the largest encode ≤ target. The first probe comes
 * from a prior (typical bytes per pixel at the reference quality, and a typical slope), the next from
 * the prior slope through the measured point, then secant steps in (x(quality), ln bytes) inside the
 * bracket [highest quality under the target, lowest quality over it]; a step that would repeat a
 * quality bisects instead. Stops in the window, at the max (under), at the min (over), when the bracket
 * has no integer left inside (one step jumps over the window) or at the encode cap.
 */
const searchQuality = async (
  encoder: Encoder,
  image: RawImage,
  targetBytes: number,
  firstProbe: number,
): Promise<QualitySearch> => {
  const settings = settingsOf(encoder.format);
  const { minQuality, maxQuality } = settings;
  const { lowerBound, aim, maxEncodes, slopeRange } = ENCODE_DEFAULTS.search;
  const measured = new Map<number, number>();
  let best: Candidate | undefined;
  let quality = firstProbe;

  for (;;) {
    const candidate = await encoder.run(image, quality, 1);
    const bytes = candidate.body.length;
    measured.set(quality, bytes);
    if (bytes <= targetBytes) {
      // Equal sizes (a flat stretch of the curve): keep the higher quality.
      if (
        !best ||
        bytes > best.body.length ||
        (bytes === best.body.length && quality > (best.quality ?? 0))
      ) {
        best = candidate;
      }
      if (bytes >= lowerBound * targetBytes) return { kind: "met", best: candidate };
      if (quality === maxQuality) return { kind: "under-at-max-quality", best };
    } else if (quality === minQuality) {
      return { kind: "over-at-min-quality", bytes };
    }

    // The bracket: the highest quality under the target and the lowest quality above it that is over.
    const under = Math.max(
      minQuality - 1,
      ...[...measured].filter(([, b]) => b <= targetBytes).map(([q]) => q),
    );
    const over = Math.min(
      maxQuality + 1,
      ...[...measured].filter(([q, b]) => b > targetBytes && q > under).map(([q]) => q),
    );
    if (best && (over - under <= 1 || encoder.encodes >= maxEncodes)) return { kind: "met", best };
    if (!best && encoder.encodes >= maxEncodes) {
      // Out of encodes with everything over: the floor decides between a result and scaling down.
      quality = minQuality;
      continue;
    }

    const goal = Math.log(aim * targetBytes);
    const underBytes = measured.get(under);
    const overBytes = measured.get(over);
    let predictedX: number;
    if (underBytes !== undefined && overBytes !== undefined) {
      const t = (goal - Math.log(underBytes)) / (Math.log(overBytes) - Math.log(underBytes));
      predictedX = x(under) + t * (x(over) - x(under));
    } else {
      // One side only: extrapolate from the nearest point with the measured (or the prior) slope.
      const [nearQuality, nearBytes] = (
        underBytes !== undefined ? [under, underBytes] : [over, overBytes]
      ) as [number, number];
      const previous = [...measured].filter(([q]) => q !== nearQuality).at(-1);
      let slope = settings.slope;
      if (previous) {
        const [otherQuality, otherBytes] = previous;
        slope = clamp(
          (Math.log(nearBytes) - Math.log(otherBytes)) / (x(nearQuality) - x(otherQuality)),
          slopeRange as [number, number],
        );
      }
      predictedX = x(nearQuality) + (goal - Math.log(nearBytes)) / slope;
    }
    let next = Math.round(clamp(qualityAt(predictedX), [under + 1, over - 1]));
    next = clamp(next, [minQuality, maxQuality]);
    if (measured.has(next)) next = Math.floor((under + over) / 2);
    quality = next;
  }
};

/**
 * The scale at the quality floor for the largest encode ≤ target: first bytes ∝ scale^1.8 (close to
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
    const width = Math.max(1, Math.round(image.width * scale));
    const height = Math.max(1, Math.round(image.height * scale));
    const scaled = await toRaw(fromRaw(image).resize(width, height, { fit: "fill" }));
    const effectiveScale = width / image.width;
    const candidate = await encoder.run(scaled, quality, effectiveScale);
    const bytes = candidate.body.length;
    measured.set(width, bytes);
    if (bytes <= targetBytes) {
      if (!best || bytes > best.body.length) best = candidate;
      if (bytes >= lowerBound * targetBytes) return candidate;
    }

    const under = Math.max(0, ...[...measured].filter(([, b]) => b <= targetBytes).map(([w]) => w));
    const over = Math.min(...[...measured].filter(([w, b]) => b > targetBytes && w > under).map(([w]) => w));
    if (best && (over - under <= 1 || encoder.encodes >= maxEncodes)) return best;
    if (width === 1 && !best)
      throw new Error(`a 1-pixel-wide ${encoder.format} is still over ${targetBytes} bytes`);

    const overBytes = measured.get(over) as number;
    const underBytes = measured.get(under);
    // Past the cap, aim further under the target each time so the loop ends in a few encodes.
    const pastCap = encoder.encodes - maxEncodes + 1;
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
 * area, so the width shrinks by the square root of the overshoot. At most `stepCrossingEncodes` more
 * encodes, and never below `stepCrossingMinScale` of the width; the best result under the target is
 * kept if neither lands in the window.
 */
const refineAcrossStep = async (
  encoder: Encoder,
  image: RawImage,
  targetBytes: number,
  best: Candidate,
): Promise<Candidate> => {
  const { lowerBound, aim, stepCrossingEncodes, stepCrossingMinScale } = ENCODE_DEFAULTS.search;
  const stepUp = (best.quality ?? 0) + 1;
  let overBytes = encoder.attempts.find(
    (attempt) => attempt.quality === stepUp && attempt.scale === 1,
  )?.bytes;
  if (overBytes === undefined) return best;
  let chosen = best;
  for (let tries = 0; tries < stepCrossingEncodes; tries += 1) {
    const scale = Math.min(0.999, Math.sqrt((aim * targetBytes) / overBytes));
    // A step too tall to cross by a slight shrink: the full-size result under the window is better.
    if (scale < stepCrossingMinScale) break;
    const width = Math.max(1, Math.round(image.width * scale));
    const height = Math.max(1, Math.round(image.height * scale));
    const scaled = await toRaw(fromRaw(image).resize(width, height, { fit: "fill" }));
    const candidate = await encoder.run(scaled, stepUp, width / image.width);
    const bytes = candidate.body.length;
    if (bytes <= targetBytes) {
      if (bytes > chosen.body.length) chosen = candidate;
      if (bytes >= lowerBound * targetBytes) return candidate;
    }
    overBytes = bytes / scale ** 2;
  }
  return chosen;
};

/**
 * Bytes per pixel at the reference quality, measured on a half-width copy (a quarter of the pixels,
 * so about a quarter of an encode). A fixed prior is off by 7× between a smooth product shot and a
 * detailed painting; this estimate lands within about ±40% (a full-size photo packs 0.6–1.4× the
 * bytes per pixel of its half-size copy; 0.75 is the median on the corpus), so the search that follows
 * starts near the answer and usually ends in two or three full encodes.
 */
const HALF_SIZE_DENSITY = 0.75;

const measureBytesPerPixel = async (encoder: Encoder, image: RawImage): Promise<number | undefined> => {
  if (image.width < 256 || image.height < 64) return undefined;
  const width = Math.round(image.width / 2);
  const height = Math.round(image.height / 2);
  const half = await toRaw(fromRaw(image).resize(width, height, { fit: "fill" }));
  const probe = await encoder.run(half, ENCODE_DEFAULTS.search.referenceQuality, width / image.width);
  return (probe.body.length / (width * height)) * HALF_SIZE_DENSITY;
};

/** The first probe: the quality at which a typical photo of this many pixels would land on the aim. */
const firstProbe = (
  format: OutputFormat,
  pixels: number,
  targetBytes: number,
  measuredBytesPerPixel?: number,
): number => {
  const { slope, minQuality, maxQuality } = settingsOf(format);
  const bytesPerPixel = measuredBytesPerPixel ?? settingsOf(format).bytesPerPixel;
  const { aim, referenceQuality } = ENCODE_DEFAULTS.search;
  if (bytesPerPixel === null) return minQuality;
  const predictedX = x(referenceQuality) + Math.log((aim * targetBytes) / (bytesPerPixel * pixels)) / slope;
  return Math.round(clamp(qualityAt(predictedX), [minQuality, maxQuality]));
};

const encoderName = (format: OutputFormat, quality: number | null): string =>
  format === "png" && quality !== null ? PNG_PALETTE_ENCODER : settingsOf(format).encoder;

const result = (
  format: OutputFormat,
  candidate: Candidate,
  encoder: Encoder,
  targetBytes: number | null,
  outcome: SizeMetadata["outcome"],
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
      encodes: encoder.encodes,
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

  if (options.targetKb === undefined) {
    const candidate = await encoder.run(prepared, options.quality ?? settings.quality, 1);
    return result(format, candidate, encoder, null, "no-target");
  }

  const targetBytes = Math.floor(options.targetKb * 1024);
  const { lowerBound } = ENCODE_DEFAULTS.search;
  if (format === "png") {
    const lossless = await encoder.run(prepared, null, 1);
    if (lossless.body.length <= targetBytes) {
      const outcome = lossless.body.length >= lowerBound * targetBytes ? "met" : "under-at-max-quality";
      return result(format, lossless, encoder, targetBytes, outcome);
    }
    // Then the palette floor (see firstProbe): photos quantise to much the same size at any palette
    // quality, so the floor settles at once whether a palette alone can reach the target.
  }

  const probe = firstProbe(
    format,
    prepared.width * prepared.height,
    targetBytes,
    format === "png" ? undefined : await measureBytesPerPixel(encoder, prepared),
  );
  const search = await searchQuality(encoder, prepared, targetBytes, probe);
  if (search.kind === "met" && search.best.body.length < lowerBound * targetBytes && format !== "png") {
    const refined = await refineAcrossStep(encoder, prepared, targetBytes, search.best);
    return result(format, refined, encoder, targetBytes, "met");
  }
  if (search.kind !== "over-at-min-quality")
    return result(format, search.best, encoder, targetBytes, search.kind);
  const scaled = await searchScale(encoder, prepared, targetBytes, settings.minQuality, search.bytes);
  return result(format, scaled, encoder, targetBytes, "scaled-down");
};
