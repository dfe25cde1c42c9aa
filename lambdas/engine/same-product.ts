import { decodeMaster } from "./decode.ts";
import { hammingDistance, perceptualHashes } from "./perceptual-hash.ts";
import { assessBackground, QUALITY_THRESHOLDS } from "./quality.ts";
import { fromRaw, type RawImage, toRaw } from "./raw-image.ts";

/**
 * The guardrail on an edited image (an AI model's): does it still show the product of the original?
 * An edit may change the background, the lighting and the framing (a white studio backdrop, a square
 * detail crop); it must not change the object. Both images are reduced to their object (the box a clear
 * background bounds, else the whole frame), the two are aligned (either may be a crop of the other),
 * and the aligned pair is measured: perceptual hashes, structural similarity and colour.
 */
export interface SameProductReport {
  verdict: "same" | "needs_attention";
  /** Each threshold crossed, in words, e.g. "the object's colour moved by ΔE 31 (limit 25)". */
  reasons: string[];
  /** Hamming distances of the aligned crops' hashes (perceptual-hash.ts), 0–64 each. */
  pHashDistance: number;
  dHashDistance: number;
  /** Structural similarity (SSIM on luminance) of the two object regions after aligning their sizes, 0–1. */
  structure: number;
  /** Object bounding box area ÷ frame area, 0–1 (1 when no clear background sets the object apart). */
  fill: { original: number; candidate: number };
  /** Centre of the object's box in fractions of the frame; shift = the distance between the two. */
  centre: { original: [number, number]; candidate: [number, number]; shift: number };
  /** Mean CIELAB (D65) of the object's pixels at the aligned positions; ΔE is CIEDE2000. */
  colour: { original: [number, number, number]; candidate: [number, number, number]; deltaE: number };
}

/**
 * When the candidate needs a person's look. Tuned on the corpus by test/unit/same-product.test.ts,
 * which prints every figure (SAME_PRODUCT_ALL_PAIRS=1 for the whole run): 17 photos, each against 13
 * edits an image model makes (exposure, colour balance, the engine's studio square, crops of 15–20%
 * and a square crop, a 2048 px PNG, half size at JPEG q60, sharpen, denoise, white padding), and
 * against the 16 others and all their edits (3 416 pairs). Same objects measured hash distances
 * (pHash + dHash) ≤ 16 and structure ≥ 0.815; different objects ≥ 25 and ≤ 0.648. Each limit sits in
 * the middle of its gap. Fill and centre are reported, never voted on: a new framing is an edit.
 */
export const SAME_PRODUCT_THRESHOLDS = {
  /**
   * The hashes say "different" at this many differing bits of pHash + dHash (of 128) or more: same
   * objects ≤ 16 (a brightened wood grain, 12 + 4), different ≥ 25 (10 + 15).
   */
  hashBits: 20,
  /**
   * The structure says "different" below this aligned SSIM: same objects ≥ 0.815 (a photo darkened by
   * a gamma of 1.6), different ≤ 0.648 (a wood grain and a cardboard box). The shape has changed only
   * when both the hashes and the structure say so: an image model regenerates fine texture (which
   * SSIM reads) more freely than the low frequencies (which the hashes read).
   */
  structure: 0.73,
  /**
   * The colour moved far: CIEDE2000 above this, on its own. Exposure and colour-balance edits move it
   * by ≤ 15 (a gamma of 1.6; R +12% and B −15%), so 25 leaves room for a stronger correction. Clearly
   * coloured objects (mean chroma ≥ 20) turned to the opposite hue measure 27–47; a mean colour cannot
   * see a recolour of a grey object, or of many colours that average to grey.
   */
  deltaE: 25,
} as const;

/** Longest side the two images are decoded at: an object's identity shows at thumbnail size. */
const MEASURE_SIDE = 512;
/** Longest side of the luma and colour planes that windows are sampled from. */
const PLANE_SIDE = 128;
/** Longest side of the luma plane the alignment search resamples. */
const SEARCH_PLANE_SIDE = 64;
/** Side of the squares the coarse alignment search compares (normalised cross-correlation). */
const SEARCH_SIDE = 16;
/** Side of the squares the refinement compares. */
const REFINE_SIDE = 32;
/**
 * Window sizes the search tries, as shares of the largest window of the wanted aspect that fits the
 * frame: down to a quarter of its side, so that a detail crop, or an object that fills little of a busy
 * photo and comes back cut out onto white, is found. Stopping at half the side missed the latter.
 */
const SEARCH_SCALES = [1, 0.9, 0.8, 0.7, 0.6, 0.5, 0.42, 0.35, 0.3, 0.25];
/** Side of the aligned luma squares SSIM is taken on. */
const STRUCTURE_SIDE = 64;
/** Side of the aligned squares the mean colours are taken on. */
const COLOUR_SIDE = 32;
/** Fewer shared object positions than this share, and the colour is the whole window's. */
const MIN_OBJECT_SHARE = 0.05;
/** The inputs are images the caller has already accepted; this only stops a decompression bomb. */
const MAX_PIXELS = 100_000_000;

/** A rectangle in fractions of its frame (0–1). */
interface Window {
  left: number;
  top: number;
  width: number;
  height: number;
}

const WHOLE: Window = { left: 0, top: 0, width: 1, height: 1 };

/** One channel of pixels, row-major. */
interface Plane {
  width: number;
  height: number;
  values: Float64Array;
}

/** What one image contributes to a comparison, measured once. */
export interface ObjectSignature {
  /** The decoded frame (transparency on white, 3 channels), for hashing windows of it. */
  frame: RawImage;
  /** Luma of the frame at PLANE_SIDE, and at SEARCH_PLANE_SIDE for the search. */
  luma: Plane;
  coarse: Plane;
  /** CIELAB of the frame at PLANE_SIDE. */
  lab: [Plane, Plane, Plane];
  /** 1 where a pixel differs from a clear background (every pixel when there is none). */
  object: Plane;
  /** The object's bounding box (the whole frame when no clear background sets it apart). */
  region: Window;
}

const white = { r: 255, g: 255, b: 255 };

const SRGB_TO_LINEAR = Float64Array.from({ length: 256 }, (_, value) => {
  const v = value / 255;
  return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
});

const labF = (t: number) => (t > 216 / 24389 ? Math.cbrt(t) : ((24389 / 27) * t + 16) / 116);

/** CIELAB (D65 white) of an 8-bit sRGB colour. */
export const srgbToLab = (r: number, g: number, b: number): [number, number, number] => {
  const lr = SRGB_TO_LINEAR[r] as number;
  const lg = SRGB_TO_LINEAR[g] as number;
  const lb = SRGB_TO_LINEAR[b] as number;
  const x = (0.4124564 * lr + 0.3575761 * lg + 0.1804375 * lb) / 0.95047;
  const y = 0.2126729 * lr + 0.7151522 * lg + 0.072175 * lb;
  const z = (0.0193339 * lr + 0.119192 * lg + 0.9503041 * lb) / 1.08883;
  const [fx, fy, fz] = [labF(x), labF(y), labF(z)];
  return [116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)];
};

/** CIEDE2000 colour difference (Sharma, Wu and Dalal, 2005), kL = kC = kH = 1. */
export const deltaE2000 = (
  [l1, a1, b1]: readonly [number, number, number],
  [l2, a2, b2]: readonly [number, number, number],
): number => {
  const rad = Math.PI / 180;
  const cBar7 = ((Math.hypot(a1, b1) + Math.hypot(a2, b2)) / 2) ** 7;
  const g = 0.5 * (1 - Math.sqrt(cBar7 / (cBar7 + 25 ** 7)));
  const a1p = (1 + g) * a1;
  const a2p = (1 + g) * a2;
  const c1p = Math.hypot(a1p, b1);
  const c2p = Math.hypot(a2p, b2);
  const hue = (b: number, a: number) => (b === 0 && a === 0 ? 0 : (Math.atan2(b, a) / rad + 360) % 360);
  const h1p = hue(b1, a1p);
  const h2p = hue(b2, a2p);
  const chromatic = c1p * c2p !== 0;
  let dhp = chromatic ? h2p - h1p : 0;
  if (dhp > 180) dhp -= 360;
  else if (dhp < -180) dhp += 360;
  const dLp = l2 - l1;
  const dCp = c2p - c1p;
  const dHp = 2 * Math.sqrt(c1p * c2p) * Math.sin((dhp / 2) * rad);
  const lBarP = (l1 + l2) / 2;
  const cBarP = (c1p + c2p) / 2;
  let hBarP = h1p + h2p;
  if (chromatic) {
    if (Math.abs(h1p - h2p) <= 180) hBarP /= 2;
    else hBarP = hBarP < 360 ? (hBarP + 360) / 2 : (hBarP - 360) / 2;
  }
  const t =
    1 -
    0.17 * Math.cos((hBarP - 30) * rad) +
    0.24 * Math.cos(2 * hBarP * rad) +
    0.32 * Math.cos((3 * hBarP + 6) * rad) -
    0.2 * Math.cos((4 * hBarP - 63) * rad);
  const dTheta = 30 * Math.exp(-(((hBarP - 275) / 25) ** 2));
  const cBarP7 = cBarP ** 7;
  const rT = -Math.sin(2 * dTheta * rad) * 2 * Math.sqrt(cBarP7 / (cBarP7 + 25 ** 7));
  const sL = 1 + (0.015 * (lBarP - 50) ** 2) / Math.sqrt(20 + (lBarP - 50) ** 2);
  const sC = 1 + 0.045 * cBarP;
  const sH = 1 + 0.015 * cBarP * t;
  return Math.sqrt((dLp / sL) ** 2 + (dCp / sC) ** 2 + (dHp / sH) ** 2 + rT * (dCp / sC) * (dHp / sH));
};

/**
 * The window of `plane` resampled to outWidth×outHeight, each output pixel the mean of a grid of
 * bilinear samples over its footprint: an area average, so a large shrink does not alias. Written here
 * because windows are taken at fractional positions many times per comparison, on planes already in
 * memory, where a sharp pipeline per window would cost more than the arithmetic.
 */
const sample = (plane: Plane, window: Window, outWidth: number, outHeight: number): Float64Array => {
  const { width, height, values } = plane;
  const right = width > 1 ? 1 : 0;
  const down = height > 1 ? width : 0;
  const at = (x: number, y: number): number => {
    const cx = Math.min(width - 1, Math.max(0, x - 0.5));
    const cy = Math.min(height - 1, Math.max(0, y - 0.5));
    const ix = Math.min(width - 1 - right, Math.floor(cx));
    const iy = Math.min(height - 1 - (down ? 1 : 0), Math.floor(cy));
    const fx = cx - ix;
    const fy = cy - iy;
    const i = iy * width + ix;
    return (
      (values[i] as number) * (1 - fx) * (1 - fy) +
      (values[i + right] as number) * fx * (1 - fy) +
      (values[i + down] as number) * (1 - fx) * fy +
      (values[i + down + right] as number) * fx * fy
    );
  };
  const x0 = window.left * width;
  const y0 = window.top * height;
  const stepX = (window.width * width) / outWidth;
  const stepY = (window.height * height) / outHeight;
  const nx = Math.max(1, Math.ceil(stepX));
  const ny = Math.max(1, Math.ceil(stepY));
  const out = new Float64Array(outWidth * outHeight);
  for (let y = 0; y < outHeight; y += 1) {
    for (let x = 0; x < outWidth; x += 1) {
      let sum = 0;
      for (let j = 0; j < ny; j += 1) {
        for (let i = 0; i < nx; i += 1) {
          sum += at(x0 + (x + (i + 0.5) / nx) * stepX, y0 + (y + (j + 0.5) / ny) * stepY);
        }
      }
      out[y * outWidth + x] = sum / (nx * ny);
    }
  }
  return out;
};

const planeOf = (width: number, height: number): Plane => ({
  width,
  height,
  values: new Float64Array(width * height),
});

/**
 * Decodes an image small (as photos are decoded: oriented, sRGB) and finds its object with the
 * background analysis STANDARDIZE trims by: the box of what differs from a near-uniform border, or the
 * whole frame when the border is not uniform.
 */
export const objectSignature = async (bytes: Uint8Array): Promise<ObjectSignature> => {
  const decoded = await decodeMaster(bytes, MEASURE_SIDE, MAX_PIXELS);
  const frame =
    decoded.channels === 4 ? await toRaw(fromRaw(decoded).flatten({ background: white })) : decoded;
  const [background, small] = await Promise.all([
    assessBackground(frame),
    toRaw(
      fromRaw(frame).resize({
        width: PLANE_SIDE,
        height: PLANE_SIDE,
        fit: "inside",
        withoutEnlargement: true,
      }),
    ),
  ]);
  const box = background.productBox;
  const found = background.uniform && box.width > 0 && box.height > 0;
  const { width, height, data } = small;
  const luma = planeOf(width, height);
  const lab: [Plane, Plane, Plane] = [planeOf(width, height), planeOf(width, height), planeOf(width, height)];
  const object = planeOf(width, height);
  const { borderColour } = background;
  const limit = QUALITY_THRESHOLDS.background.productTolerance ** 2;
  for (let pixel = 0, offset = 0; pixel < width * height; pixel += 1, offset += 3) {
    const r = data[offset] as number;
    const g = data[offset + 1] as number;
    const b = data[offset + 2] as number;
    luma.values[pixel] = 0.2126 * r + 0.7152 * g + 0.0722 * b;
    const [l, a, bStar] = srgbToLab(r, g, b);
    lab[0].values[pixel] = l;
    lab[1].values[pixel] = a;
    lab[2].values[pixel] = bStar;
    const distance = (r - borderColour.r) ** 2 + (g - borderColour.g) ** 2 + (b - borderColour.b) ** 2;
    object.values[pixel] = !found || distance > limit ? 1 : 0;
  }
  const shrink = Math.min(1, SEARCH_PLANE_SIDE / Math.max(width, height));
  const coarseWidth = Math.max(1, Math.round(width * shrink));
  const coarseHeight = Math.max(1, Math.round(height * shrink));
  return {
    frame,
    luma,
    coarse: {
      width: coarseWidth,
      height: coarseHeight,
      values: sample(luma, WHOLE, coarseWidth, coarseHeight),
    },
    lab,
    object,
    region: found
      ? {
          left: box.left / frame.width,
          top: box.top / frame.height,
          width: box.width / frame.width,
          height: box.height / frame.height,
        }
      : WHOLE,
  };
};

/** Zero mean, unit norm (all zeros for a flat patch). */
const normalised = (values: Float64Array): Float64Array => {
  const n = values.length;
  let sum = 0;
  for (let i = 0; i < n; i += 1) sum += values[i] as number;
  const mean = sum / n;
  const out = new Float64Array(n);
  let squares = 0;
  for (let i = 0; i < n; i += 1) {
    const value = (values[i] as number) - mean;
    out[i] = value;
    squares += value * value;
  }
  const norm = Math.sqrt(squares);
  if (norm > 1e-9) for (let i = 0; i < n; i += 1) out[i] = (out[i] as number) / norm;
  return out;
};

/**
 * Normalised cross-correlation of `values[offset + row·stride + column]` (a side×side patch) with a
 * `normalised` template: blind to brightness and contrast, 0 for a flat patch.
 */
const correlation = (
  values: Float64Array,
  template: Float64Array,
  side: number,
  offset = 0,
  stride = side,
): number => {
  let sum = 0;
  let squares = 0;
  let dot = 0;
  for (let row = 0; row < side; row += 1) {
    const base = offset + row * stride;
    for (let column = 0; column < side; column += 1) {
      const value = values[base + column] as number;
      sum += value;
      squares += value * value;
      dot += value * (template[row * side + column] as number);
    }
  }
  const variance = squares - (sum * sum) / (side * side);
  return variance > 1e-9 ? dot / Math.sqrt(variance) : 0;
};

const aspectOf = (signature: ObjectSignature, window: Window) =>
  (window.width * signature.luma.width) / (window.height * signature.luma.height);

/** The window moved by (dx, dy) and scaled about its centre, kept inside the frame. */
const moved = (window: Window, dx: number, dy: number, scale: number): Window => {
  const width = Math.min(1, window.width * scale);
  const height = Math.min(1, window.height * scale);
  const centreX = window.left + window.width / 2 + dx;
  const centreY = window.top + window.height / 2 + dy;
  return {
    left: Math.min(1 - width, Math.max(0, centreX - width / 2)),
    top: Math.min(1 - height, Math.max(0, centreY - height / 2)),
    width,
    height,
  };
};

/**
 * Where in `frame` the content of `window` of `other` is: windows of its aspect ratio at each of
 * SEARCH_SCALES and every position on a SEARCH_SIDE grid, compared by normalised cross-correlation;
 * then the best moved by up to one grid step each way in half steps and scaled by ±5%, compared at
 * REFINE_SIDE.
 */
const locate = (frame: ObjectSignature, other: ObjectSignature, window: Window): Window => {
  const aspect = aspectOf(other, window);
  const frameAspect = frame.luma.width / frame.luma.height;
  // The largest window of that aspect (width ÷ height in pixels) that fits, in fractions of the frame.
  const fullWidth = aspect < frameAspect ? aspect / frameAspect : 1;
  const fullHeight = aspect < frameAspect ? 1 : frameAspect / aspect;
  const template = normalised(sample(other.coarse, window, SEARCH_SIDE, SEARCH_SIDE));
  let coarse = {
    score: -Infinity,
    window: { left: 0, top: 0, width: fullWidth, height: fullHeight },
    step: [0, 0],
  };
  for (const scale of SEARCH_SCALES) {
    // The frame resampled so that the window is SEARCH_SIDE² and one step is one pixel.
    const across = Math.max(SEARCH_SIDE, Math.round(SEARCH_SIDE / (fullWidth * scale)));
    const down = Math.max(SEARCH_SIDE, Math.round(SEARCH_SIDE / (fullHeight * scale)));
    // A window under 4 coarse pixels across (a strip's aspect in a photo) holds nothing to compare.
    if (across > 4 * frame.coarse.width || down > 4 * frame.coarse.height) continue;
    const resampled = sample(frame.coarse, WHOLE, across, down);
    for (let y = 0; y + SEARCH_SIDE <= down; y += 1) {
      for (let x = 0; x + SEARCH_SIDE <= across; x += 1) {
        const score = correlation(resampled, template, SEARCH_SIDE, y * across + x, across);
        if (score > coarse.score) {
          const window = {
            left: x / across,
            top: y / down,
            width: SEARCH_SIDE / across,
            height: SEARCH_SIDE / down,
          };
          coarse = { score, window, step: [1 / across, 1 / down] };
        }
      }
    }
  }
  const fine = normalised(sample(other.coarse, window, REFINE_SIDE, REFINE_SIDE));
  const [stepX = 0, stepY = 0] = coarse.step;
  let best = { score: -Infinity, window: coarse.window };
  for (const scale of [0.95, 1, 1.05]) {
    for (let dy = -2; dy <= 2; dy += 1) {
      for (let dx = -2; dx <= 2; dx += 1) {
        const candidate = moved(coarse.window, (dx / 2) * stepX, (dy / 2) * stepY, scale);
        const score = correlation(
          sample(frame.coarse, candidate, REFINE_SIDE, REFINE_SIDE),
          fine,
          REFINE_SIDE,
        );
        if (score > best.score) best = { score, window: candidate };
      }
    }
  }
  return best.window;
};

const GAUSSIAN = (() => {
  const weights = Array.from({ length: 11 }, (_, i) => Math.exp(-((i - 5) ** 2) / (2 * 1.5 ** 2)));
  const total = weights.reduce((sum, weight) => sum + weight, 0);
  return Float64Array.from(weights, (weight) => weight / total);
})();

/** Separable 11-tap Gaussian (σ 1.5) over the valid part of a side×side array. */
const blur = (values: Float64Array, side: number): Float64Array => {
  const taps = GAUSSIAN.length;
  const out = side - taps + 1;
  const rows = new Float64Array(side * out);
  for (let y = 0; y < side; y += 1) {
    for (let x = 0; x < out; x += 1) {
      let sum = 0;
      for (let k = 0; k < taps; k += 1) sum += (values[y * side + x + k] as number) * (GAUSSIAN[k] as number);
      rows[y * out + x] = sum;
    }
  }
  const result = new Float64Array(out * out);
  for (let y = 0; y < out; y += 1) {
    for (let x = 0; x < out; x += 1) {
      let sum = 0;
      for (let k = 0; k < taps; k += 1) sum += (rows[(y + k) * out + x] as number) * (GAUSSIAN[k] as number);
      result[y * out + x] = sum;
    }
  }
  return result;
};

/** Mean SSIM (Wang et al., 2004: 11-tap Gaussian σ 1.5, K1 0.01, K2 0.03, L 255) of two side×side squares. */
export const ssim = (a: Float64Array, b: Float64Array, side: number): number => {
  const c1 = (0.01 * 255) ** 2;
  const c2 = (0.03 * 255) ** 2;
  const squaresA = new Float64Array(a.length);
  const squaresB = new Float64Array(a.length);
  const products = new Float64Array(a.length);
  for (let i = 0; i < a.length; i += 1) {
    const x = a[i] as number;
    const y = b[i] as number;
    squaresA[i] = x * x;
    squaresB[i] = y * y;
    products[i] = x * y;
  }
  const [muA, muB, aa, bb, ab] = [a, b, squaresA, squaresB, products].map((values) => blur(values, side)) as [
    Float64Array,
    Float64Array,
    Float64Array,
    Float64Array,
    Float64Array,
  ];
  let total = 0;
  for (let i = 0; i < muA.length; i += 1) {
    const ma = muA[i] as number;
    const mb = muB[i] as number;
    const covariance = (ab[i] as number) - ma * mb;
    const variances = (aa[i] as number) - ma * ma + (bb[i] as number) - mb * mb;
    total += ((2 * ma * mb + c1) * (2 * covariance + c2)) / ((ma * ma + mb * mb + c1) * (variances + c2));
  }
  return total / muA.length;
};

/** The window of the decoded frame, in whole pixels (at least one). */
const cropOf = async (signature: ObjectSignature, window: Window): Promise<RawImage> => {
  const { frame } = signature;
  const left = Math.min(frame.width - 1, Math.round(window.left * frame.width));
  const top = Math.min(frame.height - 1, Math.round(window.top * frame.height));
  const width = Math.max(1, Math.min(frame.width - left, Math.round(window.width * frame.width)));
  const height = Math.max(1, Math.min(frame.height - top, Math.round(window.height * frame.height)));
  if (width === frame.width && height === frame.height) return frame;
  return toRaw(fromRaw(frame).extract({ left, top, width, height }));
};

/**
 * Mean CIELAB of each window over the positions both call object, so that a background one image has
 * and the other lost (a studio edit) counts in neither; all positions when they share too few.
 */
const coloursOf = (a: ObjectSignature, windowA: Window, b: ObjectSignature, windowB: Window) => {
  const side = COLOUR_SIDE;
  const maskA = sample(a.object, windowA, side, side);
  const maskB = sample(b.object, windowB, side, side);
  const shared = maskA.map((value, i) => (value >= 0.5 && (maskB[i] as number) >= 0.5 ? 1 : 0));
  const count = shared.reduce((sum, value) => sum + value, 0);
  const weights = count >= MIN_OBJECT_SHARE * shared.length ? shared : shared.fill(1);
  const total = weights.reduce((sum, value) => sum + value, 0);
  const mean = (signature: ObjectSignature, window: Window) =>
    signature.lab.map(
      (plane) =>
        sample(plane, window, side, side).reduce((sum, value, i) => sum + value * (weights[i] as number), 0) /
        total,
    ) as [number, number, number];
  return { original: mean(a, windowA), candidate: mean(b, windowB) };
};

const centreOf = (window: Window): [number, number] => [
  window.left + window.width / 2,
  window.top + window.height / 2,
];

const round = (value: number, places: number) => Number(value.toFixed(places));

/**
 * Compares two measured images. Alignment: of three pairings (the two object regions as they are; the
 * candidate's region found in the original's frame, as for a crop; the original's found in the
 * candidate's, as for padding or a zoomed-out shot), the one with the highest SSIM. The hashes and the
 * colours are then taken on that aligned pair.
 */
export const compareSignatures = async (
  original: ObjectSignature,
  candidate: ObjectSignature,
): Promise<SameProductReport> => {
  const structureOf = (a: Window, b: Window) =>
    ssim(
      sample(original.luma, a, STRUCTURE_SIDE, STRUCTURE_SIDE),
      sample(candidate.luma, b, STRUCTURE_SIDE, STRUCTURE_SIDE),
      STRUCTURE_SIDE,
    );
  const pairings = [
    { a: original.region, b: candidate.region },
    { a: locate(original, candidate, candidate.region), b: candidate.region },
    { a: original.region, b: locate(candidate, original, original.region) },
  ].map((pairing) => ({ ...pairing, structure: structureOf(pairing.a, pairing.b) }));
  const aligned = pairings.reduce((best, pairing) => (pairing.structure > best.structure ? pairing : best));
  const [hashesA, hashesB] = await Promise.all([
    cropOf(original, aligned.a).then(perceptualHashes),
    cropOf(candidate, aligned.b).then(perceptualHashes),
  ]);
  const pHashDistance = hammingDistance(hashesA.pHash, hashesB.pHash);
  const dHashDistance = hammingDistance(hashesA.dHash, hashesB.dHash);
  const structure = round(Math.min(1, Math.max(0, aligned.structure)), 3);
  const colours = coloursOf(original, aligned.a, candidate, aligned.b);
  const deltaE = round(deltaE2000(colours.original, colours.candidate), 1);

  const T = SAME_PRODUCT_THRESHOLDS;
  const reasons: string[] = [];
  if (pHashDistance + dHashDistance >= T.hashBits && structure < T.structure) {
    reasons.push(
      `the object's shape differs: its hashes are ${pHashDistance} + ${dHashDistance} of 128 bits apart (limit ${T.hashBits}) and its aligned structure is ${structure} (limit ${T.structure})`,
    );
  }
  if (deltaE > T.deltaE) reasons.push(`the object's colour moved by ΔE ${deltaE} (limit ${T.deltaE})`);
  const [centreA, centreB] = [centreOf(original.region), centreOf(candidate.region)];
  const lab = (values: [number, number, number]) =>
    values.map((value) => round(value, 1)) as [number, number, number];
  const point = (values: [number, number]) => values.map((value) => round(value, 3)) as [number, number];
  return {
    verdict: reasons.length > 0 ? "needs_attention" : "same",
    reasons,
    pHashDistance,
    dHashDistance,
    structure,
    fill: {
      original: round(original.region.width * original.region.height, 3),
      candidate: round(candidate.region.width * candidate.region.height, 3),
    },
    centre: {
      original: point(centreA),
      candidate: point(centreB),
      shift: round(Math.hypot(centreA[0] - centreB[0], centreA[1] - centreB[1]), 3),
    },
    colour: { original: lab(colours.original), candidate: lab(colours.candidate), deltaE },
  };
};

/**
 * Whether `candidate` (an edit of `original`, both encoded images) still shows the same object: the
 * measures above and a verdict, `needs_attention` with a reason for each limit crossed. Either image
 * failing to decode is an ImageError.
 */
export const compareSameProduct = async (
  original: Uint8Array,
  candidate: Uint8Array,
): Promise<SameProductReport> => {
  const [a, b] = await Promise.all([objectSignature(original), objectSignature(candidate)]);
  return compareSignatures(a, b);
};
