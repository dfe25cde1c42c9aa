import { fromRaw, type RawImage } from "./raw-image.ts";

/**
 * Perceptual hashes of a photo, for finding the same product photo uploaded twice (re-encoded,
 * resized, brightened or slightly cropped). Both are 64 bits, written as 16 lowercase hex digits,
 * most significant bit first.
 *
 * The DCT is written here by hand: it is 32×32 samples, a few thousand multiplications. No
 * maintained npm package does pHash on sharp raw buffers: `sharp-phash` (2.2.0) decodes an encoded
 * file itself, computes the full 32×32 DCT naively (O(N⁴)), thresholds at the mean rather than the
 * median and returns a 64-character "0"/"1" string; `imghash` (1.1.4) computes blockhash (not a DCT
 * hash) after decoding with jpeg-js/@canvas/image, not sharp. Neither takes already-decoded pixels.
 */
export interface PerceptualHashes {
  /** DCT hash: low-frequency structure, robust to re-encoding, resizing, brightness and small crops. */
  pHash: string;
  /** Difference hash: the sign of horizontal brightness gradients on a 9×8 thumbnail. */
  dHash: string;
}

/** Hamming distance at or below which two pHashes are candidates for the same photo. */
export const DUPLICATE_DISTANCE = 5;

/**
 * dHash distance a near-duplicate must also be within: a quarter of the bits (unrelated photos
 * differ in about half). pHash alone finds candidates (the banded lookup is on pHash); dHash is a
 * second, independent opinion (local gradients rather than global frequencies) that rejects a pHash
 * collision between different photos of similar layout. On the corpus, re-encoded, resized,
 * brightened, darkened and cropped copies stay within 11; unrelated photos are 22 or more apart
 * (the aloeL/aloeR stereo pair 16, its pHashes 10 apart; see test/unit/perceptual-hash.test.ts).
 */
export const DHASH_CONFIRM_DISTANCE = 16;

const PHASH_SAMPLE = 32;
const HASH_BITS = 64;
const HEX_DIGITS = HASH_BITS / 4;
/** Six bands of 11, 11, 11, 11, 10, 10 bits: any 5 differing bits leave at least one band untouched. */
const BAND_WIDTHS = [11, 11, 11, 11, 10, 10] as const;

/**
 * The 64 DCT frequencies (u horizontal, v vertical) the pHash keeps: the lowest AC frequencies in
 * zig-zag order, diagonal by diagonal (u + v = 1, 2, …, 10; along a diagonal from (u + v, 0) to
 * (0, u + v)), which is every frequency with u + v ≤ 10 except the last, (0, 10). DC is left out:
 * overall brightness is not structure.
 */
const PHASH_FREQUENCIES: readonly (readonly [number, number])[] = (() => {
  const frequencies: [number, number][] = [];
  for (let diagonal = 1; frequencies.length < HASH_BITS; diagonal += 1) {
    for (let v = 0; v <= diagonal && frequencies.length < HASH_BITS; v += 1)
      frequencies.push([diagonal - v, v]);
  }
  return frequencies;
})();
const MAX_FREQUENCY = 10;

const white = { r: 255, g: 255, b: 255 };

/**
 * Greyscale (Rec. 709 luma of the gamma-encoded values) of the image squeezed to width×height,
 * ignoring the aspect ratio. Transparent pixels count as white, as they are shown on the marketplace.
 */
const thumbnail = async (image: RawImage, width: number, height: number): Promise<Float64Array> => {
  let pipeline = fromRaw(image);
  if (image.channels === 4) pipeline = pipeline.flatten({ background: white });
  const { data, info } = await pipeline
    .resize({ width, height, fit: "fill" })
    .raw()
    .toBuffer({ resolveWithObject: true });
  const grey = new Float64Array(width * height);
  const channels = info.channels;
  for (let pixel = 0, offset = 0; pixel < grey.length; pixel += 1, offset += channels) {
    grey[pixel] =
      0.2126 * (data[offset] ?? 0) + 0.7152 * (data[offset + 1] ?? 0) + 0.0722 * (data[offset + 2] ?? 0);
  }
  return grey;
};

/** cos((2x + 1)·u·π / 2N) for u = 0..10, x = 0..N-1: the only DCT-II basis rows the hash reads. */
const COSINES: Float64Array[] = Array.from({ length: MAX_FREQUENCY + 1 }, (_, u) =>
  Float64Array.from({ length: PHASH_SAMPLE }, (_, x) =>
    Math.cos(((2 * x + 1) * u * Math.PI) / (2 * PHASH_SAMPLE)),
  ),
);

/** Hann window over the 32 samples: 1 in the middle, falling to 0 at the frame's edges. */
const WINDOW = Float64Array.from(
  { length: PHASH_SAMPLE },
  (_, x) => 0.5 - 0.5 * Math.cos((2 * Math.PI * (x + 0.5)) / PHASH_SAMPLE),
);

/**
 * The 2-D DCT-II of a 32×32 block for frequencies u, v = 0..10, computed separably (rows, then
 * columns): coefficients[v·11 + u], as plain cosine sums. The orthonormal DCT's extra 1/√2 on row
 * and column 0 is left out, as most pHash implementations do; on the corpus applying it made the
 * hash slightly less stable under brightening (one more photo at distance 6).
 */
const lowFrequencyDct = (samples: Float64Array): Float64Array => {
  const n = PHASH_SAMPLE;
  const k = MAX_FREQUENCY + 1;
  const rows = new Float64Array(n * k); // rows[y·k + u] = Σx samples[y][x]·cos(u, x)
  for (let y = 0; y < n; y += 1) {
    for (let u = 0; u < k; u += 1) {
      const basis = COSINES[u] as Float64Array;
      let sum = 0;
      for (let x = 0; x < n; x += 1) sum += (samples[y * n + x] as number) * (basis[x] as number);
      rows[y * k + u] = sum;
    }
  }
  const coefficients = new Float64Array(k * k);
  for (let v = 0; v < k; v += 1) {
    const basis = COSINES[v] as Float64Array;
    for (let u = 0; u < k; u += 1) {
      let sum = 0;
      for (let y = 0; y < n; y += 1) sum += (rows[y * k + u] as number) * (basis[y] as number);
      coefficients[v * k + u] = sum;
    }
  }
  return coefficients;
};

/** 64 booleans (most significant first) → 16 lowercase hex digits. */
const toHex = (bits: readonly boolean[]): string => {
  let hex = "";
  for (let nibble = 0; nibble < HEX_DIGITS; nibble += 1) {
    let value = 0;
    for (let bit = 0; bit < 4; bit += 1) value = (value << 1) | (bits[nibble * 4 + bit] ? 1 : 0);
    hex += value.toString(16);
  }
  return hex;
};

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length / 2;
  return ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
};

/**
 * pHash: greyscale 32×32 (aspect ignored), mean subtracted, Hann-windowed, 2-D DCT-II, one bit per
 * coefficient of the 64 lowest AC frequencies (`PHASH_FREQUENCIES`): above the median of the 64.
 *
 * Two changes from the textbook pHash (8×8 square of frequencies 1..8, no window), both for crops:
 * re-encoding, resizing and ±15% brightness move the textbook hash by ≤ 4 bits, but a crop of 3%
 * (1.5% off each side) moves it by up to 8 and misses 8 of the 17 corpus photos at distance 5.
 * A crop removes content at the frame's edges and shifts the rest by a fraction of the frame, which
 * turns the phase of frequency u by about π·u·shift: the window takes the edges out of the hash, and
 * the zig-zag set stops at u + v = 10 instead of reaching (8, 8). With both, the same crops move the
 * hash by ≤ 4 bits, and unrelated corpus photos stay ≥ 18 apart (test/unit/perceptual-hash.test.ts).
 * Crops of 3% from one side only are still beyond it (the whole content shifts by 1.5%).
 *
 * Because the threshold is the median of 64 values, exactly 32 bits are set and distances between
 * pHashes are always even: "within 5" is "within 4".
 *
 * dHash: greyscale 9×8, one bit per horizontal neighbour pair: the right pixel brighter than the left.
 */
export const perceptualHashes = async (image: RawImage): Promise<PerceptualHashes> => {
  const [large, small] = await Promise.all([
    thumbnail(image, PHASH_SAMPLE, PHASH_SAMPLE),
    thumbnail(image, 9, 8),
  ]);

  let mean = 0;
  for (const value of large) mean += value;
  mean /= large.length;
  for (let y = 0; y < PHASH_SAMPLE; y += 1) {
    for (let x = 0; x < PHASH_SAMPLE; x += 1) {
      const index = y * PHASH_SAMPLE + x;
      large[index] = ((large[index] as number) - mean) * (WINDOW[x] as number) * (WINDOW[y] as number);
    }
  }
  const dct = lowFrequencyDct(large);
  const low = PHASH_FREQUENCIES.map(([u, v]) => dct[v * (MAX_FREQUENCY + 1) + u] as number);
  const threshold = median(low);
  const pHash = toHex(low.map((coefficient) => coefficient > threshold));

  const gradients: boolean[] = [];
  for (let y = 0; y < 8; y += 1) {
    for (let x = 0; x < 8; x += 1)
      gradients.push((small[y * 9 + x + 1] as number) > (small[y * 9 + x] as number));
  }
  return { pHash, dHash: toHex(gradients) };
};

const HASH_PATTERN = /^[0-9a-f]{16}$/;

const assertHash = (hash: string): void => {
  if (!HASH_PATTERN.test(hash))
    throw new RangeError(`expected a 64-bit hash as 16 lowercase hex digits, got "${hash}"`);
};

const popCount32 = (value: number): number => {
  let v = value - ((value >>> 1) & 0x55555555);
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return Math.imul((v + (v >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24;
};

/** The number of bits in which two 64-bit hashes (16 hex digits each) differ: 0–64. */
export const hammingDistance = (a: string, b: string): number => {
  assertHash(a);
  assertHash(b);
  return (
    popCount32(Number.parseInt(a.slice(0, 8), 16) ^ Number.parseInt(b.slice(0, 8), 16)) +
    popCount32(Number.parseInt(a.slice(8), 16) ^ Number.parseInt(b.slice(8), 16))
  );
};

/**
 * Splits a 64-bit hash into bands such that any two hashes within distance `DUPLICATE_DISTANCE` (5)
 * share at least one identical band (pigeonhole: 6 bands). Returns the band values as small integers
 * for indexed columns.
 *
 * Six consecutive bands of 11, 11, 11, 11, 10 and 10 bits, most significant first; band i is stored
 * in column `phash_band{i}` (values 0–2047), so a lookup is six index probes on equality followed by
 * `isNearDuplicate` on the candidates.
 */
export const hashBands = (hash: string): number[] => {
  assertHash(hash);
  const bits = [...hash].map((digit) => Number.parseInt(digit, 16).toString(2).padStart(4, "0")).join("");
  const bands: number[] = [];
  let start = 0;
  for (const width of BAND_WIDTHS) {
    bands.push(Number.parseInt(bits.slice(start, start + width), 2));
    start += width;
  }
  return bands;
};

/**
 * The same photo: pHash within `DUPLICATE_DISTANCE` and dHash within `DHASH_CONFIRM_DISTANCE`. The
 * rule never accepts a pair whose pHashes are further apart than `DUPLICATE_DISTANCE`, so the banded
 * pHash lookup finds every pair this accepts.
 */
export const isNearDuplicate = (a: PerceptualHashes, b: PerceptualHashes): boolean =>
  hammingDistance(a.pHash, b.pHash) <= DUPLICATE_DISTANCE &&
  hammingDistance(a.dHash, b.dHash) <= DHASH_CONFIRM_DISTANCE;
