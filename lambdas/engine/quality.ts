import { fromRaw, type RawImage } from "./raw-image.ts";

/**
 * Photo quality assessment: sharpness, exposure, contrast, noise and resolution, as scores for people
 * and as flags for the AUTO mode (under-exposed → light correction, soft → sharpen, noisy → denoise,
 * small → upscale). Pure arithmetic on pixels: one downscale by sharp, then one pass in JavaScript.
 */
export interface QualityReport {
  /** Each 0–100, higher is better (noise: 100 = clean). */
  scores: {
    sharpness: number;
    exposure: number;
    contrast: number;
    noise: number;
    resolution: number;
    overall: number;
  };
  measurements: {
    width: number;
    height: number;
    megapixels: number;
    /** Variance of the 4-neighbour Laplacian of the analysis greyscale (longest side 1024). */
    laplacianVariance: number;
    /** Mean luma, 0–255. */
    meanLuminance: number;
    /** Share of pixels with luma ≤ 5. */
    clippedShadows: number;
    /** Share of pixels with luma ≥ 250. */
    clippedHighlights: number;
    /** Standard deviation of luma (RMS contrast), 0–127.5. */
    luminanceStdDev: number;
    /** Noise standard deviation in luma levels at analysis size (Immerkær's estimator, see below). */
    noiseSigma: number;
    /**
     * Edge crispness at analysis size, contrast-free: Σ|Laplacian| / Σ|gradient| over a block, taken
     * at the 90th percentile of the blocks that hold edges. A step edge blurred by a Gaussian of σ px
     * gives about 0.8/σ; a perfect step gives 2; fine texture more. 0 when there are no edges.
     */
    edgeSharpness: number;
    /** Luma percentiles: 1st (black point) and 99th (white point). */
    blackPoint: number;
    whitePoint: number;
    /**
     * Share of the subject clipped to white (luma ≥ 250): of the whole frame, or, when the frame's
     * edge is mostly near-white (a white backdrop), of the pixels not joined to that backdrop.
     */
    subjectClippedHighlights: number;
  };
  flags: {
    underExposed: boolean;
    overExposed: boolean;
    soft: boolean;
    noisy: boolean;
    small: boolean;
    lowContrast: boolean;
  };
}

export interface BackgroundReport {
  /** 0–100: how close the border region is to pure white 255,255,255 */
  whiteness: number;
  borderColour: { r: number; g: number; b: number };
  /** how uniform the border is: standard deviation of border pixels (0 = flat) */
  borderStdDev: number;
  /** border near-uniform: `borderStdDev ≤ QUALITY_THRESHOLDS.background.uniformStdDev` (6) */
  uniform: boolean;
  /** fraction of the frame covered by the product: bounding box of pixels that differ from the border colour beyond a tolerance, area / frame area */
  fillRatio: number;
  /** In the input image's pixels; all zero when nothing differs from the border. */
  productBox: { left: number; top: number; width: number; height: number };
}

/**
 * Every threshold and weight of the assessment. Sizes are at analysis size: the image fitted inside
 * `analysisSide` (never enlarged), which is also roughly how large a product page shows a photo
 * before zooming. Calibrated on the shared photo corpus and modified copies (test/unit/quality.test.ts).
 */
export const QUALITY_THRESHOLDS = {
  /**
   * Longest side of the greyscale every measurement (but width/height) is taken on. 512 is too small
   * for blur: a σ = 3 px blur of a 2560 px photo is σ ≈ 0.6 px at 512, within ordinary lens softness,
   * but σ ≈ 1.2 px at 1024, which the edge measure separates from every sharp corpus photo. The
   * downscale uses sharp's linear (triangle) kernel: 3 ms cheaper than lanczos3 on a 2000 px master,
   * and it averages away fine texture that the noise estimate would otherwise mistake for noise.
   */
  analysisSide: 1024,
  /** Side of the square blocks the noise and edge statistics are gathered in. */
  blockSize: 16,
  /** Luma at or below which a pixel is clipped to black. */
  shadowClip: 5,
  /** Luma at or above which a pixel is clipped to white. */
  highlightClip: 250,

  /**
   * Under-exposed: the white point (99th percentile of luma) below this. A photo whose brightest 1%
   * stays this dark has nothing near white; darkening a normal photo to 35% puts it at ≤ 89.
   */
  underExposedWhitePoint: 140,
  /** Exposure score: the white point from which it is not penalised for darkness… */
  goodWhitePoint: 200,
  /** …and the white point at which that penalty reaches 100% (score 0). */
  badWhitePoint: 80,
  /**
   * Over-exposed: this share of the subject clipped to white. A product shot on a white backdrop is
   * mostly clipped white by design, so when at least `backdropEdgeShare` of the frame's edge is
   * clipped, the clipped region joined to the edge is backdrop, not subject — unless what it leaves
   * is itself near-white (mean luma ≥ `blownSubjectLuma`): then the whole photo is blown. A pale
   * photo with nothing clipped is low-contrast, not over-exposed. Corpus photos clip ≤ 2%;
   * brightened 1.8× they clip 4–70% (the darker ones, below 10%, look bright rather than blown).
   */
  overExposedSubjectClip: 0.1,
  /** Subject clipping penalised in the exposure score from the first share (0) to the second (100%). */
  subjectClipPenalty: [0.02, 0.25],
  /** Share of the frame's outermost pixels that must be clipped white for a white backdrop to be looked for. */
  backdropEdgeShare: 0.5,
  /** Mean luma of what the backdrop leaves at and above which there is no subject: the photo is blown. */
  blownSubjectLuma: 230,
  /** Shares of clipped shadows penalised linearly from the first to the second (0 → 100% penalty). */
  shadowClipPenalty: [0.02, 0.3],

  /** Low contrast: luma standard deviation below this (a fog-grey or flat photo). */
  lowContrastStdDev: 28,
  /** Contrast score: 0 at the first standard deviation, 100 at the second. */
  contrastScale: [10, 50],

  /** Blocks whose mean luma is outside this range are left out of the noise estimate (clipping flattens noise). */
  noiseLumaRange: [16, 239],
  /**
   * Percentile of the per-block noise estimates taken as the photo's noise. Noise is the same in
   * every block, texture is not: the low percentile picks the flattest blocks, so detail (grass,
   * canvas, wood grain) is not counted as noise.
   */
  noisePercentile: 0.1,
  /**
   * Noisy: noise σ above this many luma levels at analysis size (≈ the midpoint between the corpus's
   * clean photos, ≤ 1.9 for a painting's canvas weave and ≤ 1.6 for the rest, and gaussian noise of
   * σ = 12 per channel added to a web-size photo, 5.6–8.6). Noise added to a photo larger than 1024
   * px is averaged down by the downscale (σ = 12 on a 2560 px photo measures ≈ 1.5): it is not
   * visible at listing size, and the downscale to the variant's size removes part of it anyway.
   */
  noisySigma: 4,
  /** Noise score: 100 at or below the first σ, 0 at or above the second. */
  noiseScale: [1, 10],

  /** A block holds edges if its mean gradient (levels per pixel) is at least this… */
  edgeMinGradient: 3,
  /** …and at least this many times the noise σ, so that noise alone does not make an edge. */
  edgeNoiseFactor: 2,
  /**
   * Fewer edge blocks than this above the noise-scaled bar: take every block above `edgeMinGradient`
   * (so a sharp photo under heavy noise is not called soft). None at all: edge sharpness 0 (soft).
   */
  minEdgeBlocks: 8,
  /** Percentile of the edge blocks' sharpness taken as the photo's: the sharpest tenth (the subject). */
  edgePercentile: 0.9,
  /**
   * Soft: edge sharpness below this, an edge blur of σ ≈ 0.65 px or more at analysis size. The
   * midpoint between sharp corpus photos, 1.5–3.0 (except a shallow-focus macro, LadyBird, 0.96: its
   * ladybird is sharp but is less than a tenth of the edges), and the same photos blurred with
   * σ = 3 px, ≤ 0.94 (1.20 for the 3840 px photo, where σ = 3 px is 0.8 px at analysis size).
   */
  softEdgeSharpness: 1.25,
  /** Sharpness score: 0 at the first edge sharpness, 100 at the second. */
  sharpnessScale: [0.5, 2],

  /** Small: the longest side below this (marketplaces want 1000 px and more for zoom). */
  smallLongestSide: 1000,
  /** Resolution score: log-scaled from 0 at the first longest side to 100 at the second. */
  resolutionScale: [250, 2000],

  /**
   * Weights of the overall score (sum 1): sharpness and exposure matter most to a buyer, resolution
   * next (zoom), noise and contrast least (the enhancement modes correct them best).
   */
  weights: { sharpness: 0.3, exposure: 0.25, contrast: 0.1, noise: 0.15, resolution: 0.2 },

  /** `assessBackground`'s: the border band is every pixel within `borderShare` of the shorter side from an edge. */
  background: {
    /** Longest side the border is analysed at (the product box is then refined at full size). */
    analysisSide: 512,
    /** Width of the border band, as a share of the shorter side (at least 2 px). */
    borderShare: 0.02,
    /**
     * Uniform: the border's standard deviation (pooled over R, G, B) at most this many levels. JPEG
     * noise on a studio backdrop is 1–3; at 6, nearly all border pixels lie within the background
     * remover's flood-fill tolerance (28 RGB units ≈ 2.7σ·√3) of the border colour.
     */
    uniformStdDev: 6,
    /** A pixel is product if its RGB distance from the border colour exceeds this. */
    productTolerance: 32,
    /**
     * A row or column belongs to the product box if at least this share of it (and at least 2 pixels)
     * differs from the border: dust specks and JPEG speckle do not stretch the box.
     */
    minProductShare: 0.004,
    /**
     * Whiteness is 100 × (1 − d / 255), d the mean over border pixels of the RMS distance of (R, G, B)
     * from 255: a border of 252 grey scores 98.8, of 242 scores 94.9, a cream 255,255,200 scores 87.5.
     */
    whitenessScale: 255,
  },
} as const;

const clamp01 = (value: number): number => Math.min(1, Math.max(0, value));
/** 0 at `from`, 1 at `to` (either direction), clamped. */
const ramp = (value: number, from: number, to: number): number => clamp01((value - from) / (to - from));
const round = (value: number, places = 2): number => Number(value.toFixed(places));

const white = { r: 255, g: 255, b: 255 };

interface Grey {
  luma: Float32Array;
  /** Counts of luma rounded to 0–255. */
  histogram: Uint32Array;
  width: number;
  height: number;
}

/**
 * Four 256-level histograms in one array, a pixel counted at `level << 2 | (pixel & 3)`, for counting in
 * a loop over every pixel: neighbouring pixels mostly share a level, and incrementing one counter pixel
 * after pixel waits on the previous store each time. `foldInterleaved` sums them into one histogram.
 */
export const interleavedCounts = (): Uint32Array => new Uint32Array(256 * 4);

export const foldInterleaved = (counts: Uint32Array): Uint32Array => {
  const histogram = new Uint32Array(256);
  for (let level = 0; level < 256; level += 1) {
    const at = level << 2;
    histogram[level] =
      (counts[at] as number) +
      (counts[at + 1] as number) +
      (counts[at + 2] as number) +
      (counts[at + 3] as number);
  }
  return histogram;
};

/**
 * Rec. 709 luma of gamma-encoded sRGB, with transparent pixels composited on white (as they are
 * shown), and its histogram, in one pass over `image`.
 */
const greyOf = ({ data, width, height, channels }: RawImage): Grey => {
  const luma = new Float32Array(width * height);
  const counts = interleavedCounts();
  // Two loops rather than one with a branch: this runs over every analysis pixel.
  if (channels === 3) {
    for (let pixel = 0, offset = 0; pixel < luma.length; pixel += 1, offset += 3) {
      const y =
        0.2126 * (data[offset] as number) +
        0.7152 * (data[offset + 1] as number) +
        0.0722 * (data[offset + 2] as number);
      luma[pixel] = y;
      const slot = (((y + 0.5) | 0) << 2) | (pixel & 3);
      counts[slot] = (counts[slot] as number) + 1;
    }
  } else {
    for (let pixel = 0, offset = 0; pixel < luma.length; pixel += 1, offset += 4) {
      const alpha = (data[offset + 3] as number) / 255;
      const y =
        (0.2126 * (data[offset] as number) +
          0.7152 * (data[offset + 1] as number) +
          0.0722 * (data[offset + 2] as number)) *
          alpha +
        255 * (1 - alpha);
      luma[pixel] = y;
      const slot = (((y + 0.5) | 0) << 2) | (pixel & 3);
      counts[slot] = (counts[slot] as number) + 1;
    }
  }
  return { luma, histogram: foldInterleaved(counts), width, height };
};

/** The image fitted inside side×side (never enlarged), as raw pixels of 3 or 4 channels. */
const fitted = async (image: RawImage, side: number): Promise<RawImage> => {
  if (Math.max(image.width, image.height) <= side) return image;
  const { data, info } = await fromRaw(image)
    .resize({ width: side, height: side, fit: "inside", withoutEnlargement: true, kernel: "linear" })
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height, channels: info.channels === 4 ? 4 : 3 };
};

/** The value at `share` (0–1) of the way through the values (nearest rank); sorts them in place. */
const percentile = (values: Float64Array, share: number): number => {
  if (values.length === 0) return 0;
  values.sort();
  return values[Math.min(values.length - 1, Math.floor(share * values.length))] as number;
};

const histogramPercentile = (histogram: Uint32Array, total: number, share: number): number => {
  const target = share * total;
  let seen = 0;
  for (let level = 0; level < histogram.length; level += 1) {
    seen += histogram[level] as number;
    if (seen > target) return level;
  }
  return histogram.length - 1;
};

/** Runs of clipped pixels, row by row: where each starts and ends, and its luma. */
interface Runs {
  start: Int32Array;
  end: Int32Array;
  lumaSum: Float64Array;
  count: number;
}

const collectRuns = (luma: Float32Array, width: number, height: number, level: number) => {
  let capacity = 4 * (width + height);
  let runs: Runs = {
    start: new Int32Array(capacity),
    end: new Int32Array(capacity),
    lumaSum: new Float64Array(capacity),
    count: 0,
  };
  /** The first run of each row; `rowFirst[height]` is the number of runs. */
  const rowFirst = new Int32Array(height + 1);
  for (let y = 0; y < height; y += 1) {
    rowFirst[y] = runs.count;
    const rowStart = y * width;
    let x = 0;
    while (x < width) {
      while (x < width && (luma[rowStart + x] as number) < level) x += 1;
      if (x === width) break;
      const start = x;
      let sum = 0;
      while (x < width && (luma[rowStart + x] as number) >= level) sum += luma[rowStart + x++] as number;
      if (runs.count === capacity) {
        capacity *= 2;
        const grown: Runs = {
          start: new Int32Array(capacity),
          end: new Int32Array(capacity),
          lumaSum: new Float64Array(capacity),
          count: runs.count,
        };
        grown.start.set(runs.start);
        grown.end.set(runs.end);
        grown.lumaSum.set(runs.lumaSum);
        runs = grown;
      }
      runs.start[runs.count] = start;
      runs.end[runs.count] = x;
      runs.lumaSum[runs.count] = sum;
      runs.count += 1;
    }
  }
  rowFirst[height] = runs.count;
  return { runs, rowFirst };
};

/**
 * The pixels at or above `level` joined (4-connected) to the frame's edge, and their luma: the runs of
 * such pixels along each row, joined where runs of neighbouring rows overlap (union-find), then every
 * group that holds a run touching the edge. One pass over the pixels, then work per run, not per
 * pixel: a flood fill visits each pixel of a white-padded square four times.
 */
const clippedJoinedToEdge = (
  luma: Float32Array,
  width: number,
  height: number,
  level: number,
): { pixels: number; lumaSum: number } => {
  const { runs, rowFirst } = collectRuns(luma, width, height, level);
  const parent = new Int32Array(runs.count);
  for (let run = 0; run < runs.count; run += 1) parent[run] = run;
  const root = (run: number): number => {
    let at = run;
    while (parent[at] !== at) {
      const next = parent[parent[at] as number] as number;
      parent[at] = next;
      at = next;
    }
    return at;
  };
  for (let y = 1; y < height; y += 1) {
    let above = rowFirst[y - 1] as number;
    const aboveEnd = rowFirst[y] as number;
    const belowEnd = rowFirst[y + 1] as number;
    for (let below = aboveEnd; below < belowEnd; below += 1) {
      const start = runs.start[below] as number;
      const end = runs.end[below] as number;
      while (above < aboveEnd && (runs.end[above] as number) <= start) above += 1;
      // Every run above that overlaps this one; the last may overlap the next run below too.
      for (let overlap = above; overlap < aboveEnd && (runs.start[overlap] as number) < end; overlap += 1) {
        const a = root(overlap);
        const b = root(below);
        if (a !== b) parent[Math.max(a, b)] = Math.min(a, b);
      }
    }
  }
  const onEdge = new Uint8Array(runs.count);
  for (let run = 0; run < runs.count; run += 1) {
    const touches =
      run < (rowFirst[1] as number) ||
      run >= (rowFirst[height - 1] as number) ||
      runs.start[run] === 0 ||
      runs.end[run] === width;
    if (touches) onEdge[root(run)] = 1;
  }
  let pixels = 0;
  let lumaSum = 0;
  for (let run = 0; run < runs.count; run += 1) {
    if (!onEdge[root(run)]) continue;
    pixels += (runs.end[run] as number) - (runs.start[run] as number);
    lumaSum += runs.lumaSum[run] as number;
  }
  return { pixels, lumaSum };
};

/**
 * The size of the white backdrop, if the frame's edge is mostly clipped white: every clipped pixel
 * joined (4-connected) to the edge. 0 if there is none, or if what it leaves is near-white too.
 */
const whiteBackdrop = ({ luma, width, height }: Grey, lumaTotal: number): number => {
  const { backdropEdgeShare, highlightClip, blownSubjectLuma } = QUALITY_THRESHOLDS;
  const clippedLevel = highlightClip - 0.5; // luma that rounds to a level ≥ 250
  const edge: number[] = [];
  for (let x = 0; x < width; x += 1) edge.push(x, (height - 1) * width + x);
  for (let y = 1; y < height - 1; y += 1) edge.push(y * width, y * width + width - 1);
  const clippedEdge = edge.filter((pixel) => (luma[pixel] as number) >= clippedLevel);
  if (clippedEdge.length < backdropEdgeShare * edge.length) return 0;

  const { pixels: tail, lumaSum: backdropLuma } = clippedJoinedToEdge(luma, width, height, clippedLevel);
  const subjectPixels = width * height - tail;
  const blown = subjectPixels === 0 || (lumaTotal - backdropLuma) / subjectPixels >= blownSubjectLuma;
  return blown ? 0 : tail;
};

/** Luma statistics from the histogram: mean and deviation, clipping (of the subject too), black and white points. */
const tonalStatistics = (grey: Grey) => {
  const { histogram } = grey;
  const total = grey.width * grey.height;
  let sum = 0;
  let sumOfSquares = 0;
  let shadows = 0;
  let highlights = 0;
  for (let level = 0; level < 256; level += 1) {
    const count = histogram[level] as number;
    sum += level * count;
    sumOfSquares += level * level * count;
    if (level <= QUALITY_THRESHOLDS.shadowClip) shadows += count;
    if (level >= QUALITY_THRESHOLDS.highlightClip) highlights += count;
  }
  const mean = sum / total;
  const backdrop = whiteBackdrop(grey, sum);
  const subjectPixels = total - backdrop;
  return {
    mean,
    stdDev: Math.sqrt(Math.max(0, sumOfSquares / total - mean * mean)),
    clippedShadows: shadows / total,
    clippedHighlights: highlights / total,
    blackPoint: histogramPercentile(histogram, total, 0.01),
    whitePoint: histogramPercentile(histogram, total, 0.99),
    subjectClippedHighlights: subjectPixels > 0 ? (highlights - backdrop) / subjectPixels : 0,
  };
};

/**
 * One pass over the interior pixels (all but the outermost ring): the Laplacian's variance, and per
 * block (the last row and column of blocks may be narrower) the sums of |Laplacian|, |gradient|,
 * |Immerkær residual| and luma.
 *
 * Immerkær (1996), "Fast noise variance estimation": the residual of the mask
 * [1 −2 1; −2 4 −2; 1 −2 1] (the difference of two Laplacians, blind to planes and edges to first
 * order) has E|r| = 6·σ·√(2/π) for white noise of σ, so σ = √(π/2)·mean|r|/6.
 */
const detailStatistics = ({ luma, width, height }: Grey) => {
  const size = QUALITY_THRESHOLDS.blockSize;
  const innerWidth = Math.max(0, width - 2);
  const innerHeight = Math.max(0, height - 2);
  const blocksAcross = Math.ceil(innerWidth / size);
  const blocksDown = Math.ceil(innerHeight / size);
  const blocks = blocksAcross * blocksDown;
  const pixelCount = new Float64Array(blocks);
  const laplacianSum = new Float64Array(blocks);
  const gradientSum = new Float64Array(blocks);
  const residualSum = new Float64Array(blocks);
  const lumaSum = new Float64Array(blocks);

  let laplacianTotal = 0;
  let laplacianSquares = 0;
  let residualTotal = 0;
  for (let y = 1; y < height - 1; y += 1) {
    const rowBase = Math.floor((y - 1) / size) * blocksAcross;
    const above = (y - 1) * width;
    const row = y * width;
    const below = (y + 1) * width;
    // The 3×3 neighbourhood slides right one pixel at a time, keeping its two left columns: three
    // reads per pixel instead of nine, which halves the time of the whole pass.
    let northWest = luma[above] as number;
    let north = luma[above + 1] as number;
    let west = luma[row] as number;
    let centre = luma[row + 1] as number;
    let southWest = luma[below] as number;
    let south = luma[below + 1] as number;
    for (let column = 0; column < blocksAcross; column += 1) {
      const start = 1 + column * size;
      const end = Math.min(width - 1, start + size);
      let laplacians = 0;
      let gradients = 0;
      let residuals = 0;
      let lumas = 0;
      for (let x = start; x < end; x += 1) {
        const northEast = luma[above + x + 1] as number;
        const east = luma[row + x + 1] as number;
        const southEast = luma[below + x + 1] as number;
        const cross = west + east + north + south;
        const laplacian = cross - 4 * centre;
        const residual = Math.abs(northWest + northEast + southWest + southEast - 2 * cross + 4 * centre);
        const dx = east - west;
        const dy = south - north;
        laplacianTotal += laplacian;
        laplacianSquares += laplacian * laplacian;
        laplacians += Math.abs(laplacian);
        gradients += Math.sqrt(dx * dx + dy * dy);
        residuals += residual;
        lumas += centre;
        northWest = north;
        north = northEast;
        west = centre;
        centre = east;
        southWest = south;
        south = southEast;
      }
      const block = rowBase + column;
      pixelCount[block] = (pixelCount[block] as number) + (end - start);
      laplacianSum[block] = (laplacianSum[block] as number) + laplacians;
      // Central differences, halved: a step of A between two pixels sums to A across the edge.
      gradientSum[block] = (gradientSum[block] as number) + 0.5 * gradients;
      residualSum[block] = (residualSum[block] as number) + residuals;
      residualTotal += residuals;
      lumaSum[block] = (lumaSum[block] as number) + lumas;
    }
  }
  const interior = innerWidth * innerHeight;
  const laplacianMean = interior > 0 ? laplacianTotal / interior : 0;
  return {
    laplacianVariance: interior > 0 ? laplacianSquares / interior - laplacianMean * laplacianMean : 0,
    globalNoise: interior > 0 ? (Math.sqrt(Math.PI / 2) * residualTotal) / (6 * interior) : 0,
    blocks,
    /** Blocks with fewer pixels than this (slivers at the right and bottom) are left out of block statistics. */
    minPixels: (size * size) / 2,
    pixelCount,
    laplacianSum,
    gradientSum,
    residualSum,
    lumaSum,
  };
};

type Detail = ReturnType<typeof detailStatistics>;

const noiseOf = (detail: Detail): number => {
  const [low, high] = QUALITY_THRESHOLDS.noiseLumaRange;
  const estimates = new Float64Array(detail.blocks);
  let count = 0;
  for (let block = 0; block < detail.blocks; block += 1) {
    const pixels = detail.pixelCount[block] as number;
    if (pixels < detail.minPixels) continue;
    const mean = (detail.lumaSum[block] as number) / pixels;
    if (mean < low || mean > high) continue;
    estimates[count++] = (Math.sqrt(Math.PI / 2) * (detail.residualSum[block] as number)) / (6 * pixels);
  }
  // Too few unclipped blocks (a tiny image, or nearly all white/black): the whole image's estimate.
  if (count < 8) return detail.globalNoise;
  return percentile(estimates.subarray(0, count), QUALITY_THRESHOLDS.noisePercentile);
};

const edgeSharpnessOf = (detail: Detail, noiseSigma: number): number => {
  const { edgeMinGradient, edgeNoiseFactor, minEdgeBlocks, edgePercentile } = QUALITY_THRESHOLDS;
  const ratiosAbove = (minGradient: number): Float64Array => {
    const ratios = new Float64Array(detail.blocks);
    let count = 0;
    for (let block = 0; block < detail.blocks; block += 1) {
      const pixels = detail.pixelCount[block] as number;
      const gradient = detail.gradientSum[block] as number;
      if (pixels >= detail.minPixels && gradient / pixels >= minGradient) {
        ratios[count++] = (detail.laplacianSum[block] as number) / gradient;
      }
    }
    return ratios.subarray(0, count);
  };
  let ratios = ratiosAbove(Math.max(edgeMinGradient, edgeNoiseFactor * noiseSigma));
  // Noise drowns every edge: measure through it (noise reads as crisp, so this never says soft).
  if (ratios.length < minEdgeBlocks) ratios = ratiosAbove(edgeMinGradient);
  return percentile(ratios, edgePercentile);
};

/**
 * Assesses one image (an original or a variant). Measurements are taken once, on the image fitted
 * inside 1024 px (`QUALITY_THRESHOLDS.analysisSide`) as greyscale, so an original and its variants
 * are judged at the same size; `width`, `height`, `megapixels`, the resolution score and `small`
 * describe the image as given.
 *
 * - sharpness: the edge measure (see `edgeSharpness`), not the Laplacian variance, because the
 *   variance grows with contrast and with the amount of detail in the scene: a product on a plain
 *   backdrop or a macro with a blurred background has a low variance while its subject is sharp.
 *   The variance is reported for reference.
 * - exposure: the white point (nothing near white → under-exposed), clipping of the subject (a
 *   white backdrop is not subject → over-exposed), and clipped shadows. A pale photo with nothing
 *   clipped is low-contrast, not over-exposed.
 * - noise: Immerkær's estimator per block, at the 10th percentile of the blocks (flat regions).
 * - A noisy photo also looks crisp to the edge measure: denoising first and assessing again is how
 *   AUTO should treat a photo flagged both noisy and not soft.
 */
export const assessQuality = async (image: RawImage): Promise<QualityReport> => {
  const T = QUALITY_THRESHOLDS;
  const grey = greyOf(await fitted(image, T.analysisSide));
  const tones = tonalStatistics(grey);
  const detail = detailStatistics(grey);
  const noiseSigma = noiseOf(detail);
  const edgeSharpness = edgeSharpnessOf(detail, noiseSigma);
  const longest = Math.max(image.width, image.height);

  const underPenalty = ramp(tones.whitePoint, T.goodWhitePoint, T.badWhitePoint);
  const overPenalty = ramp(tones.subjectClippedHighlights, T.subjectClipPenalty[0], T.subjectClipPenalty[1]);
  const shadowPenalty = ramp(tones.clippedShadows, T.shadowClipPenalty[0], T.shadowClipPenalty[1]);

  const sharpness = 100 * ramp(edgeSharpness, T.sharpnessScale[0], T.sharpnessScale[1]);
  const exposure = 100 * (1 - Math.max(underPenalty, overPenalty, shadowPenalty));
  const contrast = 100 * ramp(tones.stdDev, T.contrastScale[0], T.contrastScale[1]);
  const noise = 100 * (1 - ramp(noiseSigma, T.noiseScale[0], T.noiseScale[1]));
  const resolution =
    100 *
    clamp01(
      Math.log2(longest / T.resolutionScale[0]) / Math.log2(T.resolutionScale[1] / T.resolutionScale[0]),
    );
  const w = T.weights;
  const overall =
    w.sharpness * sharpness +
    w.exposure * exposure +
    w.contrast * contrast +
    w.noise * noise +
    w.resolution * resolution;

  return {
    scores: {
      sharpness: round(sharpness, 1),
      exposure: round(exposure, 1),
      contrast: round(contrast, 1),
      noise: round(noise, 1),
      resolution: round(resolution, 1),
      overall: round(overall, 1),
    },
    measurements: {
      width: image.width,
      height: image.height,
      megapixels: round((image.width * image.height) / 1_000_000, 2),
      laplacianVariance: round(detail.laplacianVariance, 1),
      meanLuminance: round(tones.mean, 1),
      clippedShadows: round(tones.clippedShadows, 4),
      clippedHighlights: round(tones.clippedHighlights, 4),
      luminanceStdDev: round(tones.stdDev, 2),
      noiseSigma: round(noiseSigma, 2),
      edgeSharpness: round(edgeSharpness, 3),
      blackPoint: tones.blackPoint,
      whitePoint: tones.whitePoint,
      subjectClippedHighlights: round(tones.subjectClippedHighlights, 4),
    },
    flags: {
      underExposed: tones.whitePoint < T.underExposedWhitePoint,
      overExposed: tones.subjectClippedHighlights >= T.overExposedSubjectClip,
      soft: edgeSharpness < T.softEdgeSharpness,
      noisy: noiseSigma > T.noisySigma,
      small: longest < T.smallLongestSide,
      lowContrast: tones.stdDev < T.lowContrastStdDev,
    },
  };
};

/**
 * Maps the product's rows and columns found at analysis size back to the input image, then moves
 * each edge to the exact input pixel: the downscale spreads an edge over about one analysis pixel
 * each way, so each edge is searched for in the input's rows or columns within that distance.
 */
const refineBox = (
  image: RawImage,
  colour: { r: number; g: number; b: number },
  columns: [number, number],
  rows: [number, number],
  analysisWidth: number,
  analysisHeight: number,
): BackgroundReport["productBox"] => {
  const { data, width, height, channels } = image;
  const scaleX = width / analysisWidth;
  const scaleY = height / analysisHeight;
  const limit = QUALITY_THRESHOLDS.background.productTolerance ** 2;
  const differs = (x: number, y: number): boolean => {
    const offset = (y * width + x) * channels;
    const alpha = channels === 4 ? (data[offset + 3] as number) / 255 : 1;
    const dr = (data[offset] as number) * alpha + 255 * (1 - alpha) - colour.r;
    const dg = (data[offset + 1] as number) * alpha + 255 * (1 - alpha) - colour.g;
    const db = (data[offset + 2] as number) * alpha + 255 * (1 - alpha) - colour.b;
    return dr * dr + dg * dg + db * db > limit;
  };
  // The coarse box, widened by one analysis pixel (the spread of an edge), in input pixels.
  const outer = {
    left: Math.max(0, Math.floor((columns[0] - 1) * scaleX)),
    right: Math.min(width, Math.ceil((columns[1] + 2) * scaleX)),
    top: Math.max(0, Math.floor((rows[0] - 1) * scaleY)),
    bottom: Math.min(height, Math.ceil((rows[1] + 2) * scaleY)),
  };
  const inner = {
    left: Math.min(outer.right, Math.ceil((columns[0] + 2) * scaleX)),
    right: Math.max(outer.left, Math.floor((columns[1] - 1) * scaleX)),
    top: Math.min(outer.bottom, Math.ceil((rows[0] + 2) * scaleY)),
    bottom: Math.max(outer.top, Math.floor((rows[1] - 1) * scaleY)),
  };
  const minimum = (length: number) =>
    Math.max(2, Math.ceil(QUALITY_THRESHOLDS.background.minProductShare * length));
  const columnHolds = (x: number): boolean => {
    let count = 0;
    for (let y = outer.top; y < outer.bottom; y += 1) if (differs(x, y)) count += 1;
    return count >= minimum(height);
  };
  const rowHolds = (y: number): boolean => {
    let count = 0;
    for (let x = outer.left; x < outer.right; x += 1) if (differs(x, y)) count += 1;
    return count >= minimum(width);
  };
  let left = outer.left;
  while (left < inner.left && !columnHolds(left)) left += 1;
  let right = outer.right;
  while (right > inner.right && !columnHolds(right - 1)) right -= 1;
  let top = outer.top;
  while (top < inner.top && !rowHolds(top)) top += 1;
  let bottom = outer.bottom;
  while (bottom > inner.bottom && !rowHolds(bottom - 1)) bottom -= 1;
  return { left, top, width: Math.max(0, right - left), height: Math.max(0, bottom - top) };
};

/**
 * Analyses the frame's border: its colour (per-channel median), how flat it is, how white, and the
 * bounding box of everything that differs from it (the product, on a studio shot). Computed at
 * `QUALITY_THRESHOLDS.background.analysisSide`; the box is given in the input image's pixels.
 */
export const assessBackground = async (image: RawImage): Promise<BackgroundReport> => {
  const T = QUALITY_THRESHOLDS.background;
  const small = await fitted(image, T.analysisSide);
  const { width, height, channels, data } = small;
  const pixels = width * height;
  // Flattened RGB (transparent → white); an image without alpha is that already.
  const rgb: Uint8Array | Uint8ClampedArray = channels === 3 ? data : new Uint8ClampedArray(pixels * 3);
  for (let pixel = 0, from = 0, to = 0; channels === 4 && pixel < pixels; pixel += 1, from += 4, to += 3) {
    const alpha = (data[from + 3] as number) / 255;
    rgb[to] = (data[from] as number) * alpha + white.r * (1 - alpha);
    rgb[to + 1] = (data[from + 1] as number) * alpha + white.g * (1 - alpha);
    rgb[to + 2] = (data[from + 2] as number) * alpha + white.b * (1 - alpha);
  }

  const band = Math.max(2, Math.round(T.borderShare * Math.min(width, height)));
  const histograms = [new Uint32Array(256), new Uint32Array(256), new Uint32Array(256)] as const;
  const sums = [0, 0, 0];
  const squares = [0, 0, 0];
  let distanceFromWhite = 0;
  let borderPixels = 0;
  for (let y = 0; y < height; y += 1) {
    const edgeRow = y < band || y >= height - band;
    for (let x = 0; x < width; x += 1) {
      if (!edgeRow && x >= band && x < width - band) continue;
      const offset = (y * width + x) * 3;
      let squaredFromWhite = 0;
      for (let channel = 0; channel < 3; channel += 1) {
        const value = rgb[offset + channel] as number;
        const histogram = histograms[channel] as Uint32Array;
        histogram[value] = (histogram[value] as number) + 1;
        sums[channel] = (sums[channel] as number) + value;
        squares[channel] = (squares[channel] as number) + value * value;
        squaredFromWhite += (255 - value) ** 2;
      }
      distanceFromWhite += Math.sqrt(squaredFromWhite / 3);
      borderPixels += 1;
    }
  }
  const [r, g, b] = histograms.map((histogram) => histogramPercentile(histogram, borderPixels, 0.5)) as [
    number,
    number,
    number,
  ];
  let pooledVariance = 0;
  for (let channel = 0; channel < 3; channel += 1) {
    const mean = (sums[channel] as number) / borderPixels;
    pooledVariance += Math.max(0, (squares[channel] as number) / borderPixels - mean * mean) / 3;
  }
  const borderStdDev = Math.sqrt(pooledVariance);
  const whiteness = 100 * (1 - distanceFromWhite / borderPixels / T.whitenessScale);

  // Rows and columns with enough pixels unlike the border colour bound the product.
  const rowCounts = new Uint32Array(height);
  const columnCounts = new Uint32Array(width);
  const limit = T.productTolerance ** 2;
  for (let y = 0; y < height; y += 1) {
    for (let x = 0, offset = y * width * 3; x < width; x += 1, offset += 3) {
      const dr = (rgb[offset] as number) - r;
      const dg = (rgb[offset + 1] as number) - g;
      const db = (rgb[offset + 2] as number) - b;
      if (dr * dr + dg * dg + db * db > limit) {
        rowCounts[y] = (rowCounts[y] as number) + 1;
        columnCounts[x] = (columnCounts[x] as number) + 1;
      }
    }
  }
  const span = (counts: Uint32Array, length: number): [number, number] | undefined => {
    const minimum = Math.max(2, Math.ceil(T.minProductShare * length));
    let first = 0;
    while (first < counts.length && (counts[first] as number) < minimum) first += 1;
    if (first === counts.length) return undefined;
    let last = counts.length - 1;
    while ((counts[last] as number) < minimum) last -= 1;
    return [first, last];
  };
  const rows = span(rowCounts, width);
  const columns = span(columnCounts, height);

  let productBox = { left: 0, top: 0, width: 0, height: 0 };
  if (rows && columns) {
    productBox = refineBox(image, { r, g, b }, columns, rows, width, height);
  }

  return {
    whiteness: round(Math.max(0, whiteness), 2),
    borderColour: { r, g, b },
    borderStdDev: round(borderStdDev, 2),
    uniform: borderStdDev <= T.uniformStdDev,
    fillRatio: round((productBox.width * productBox.height) / (image.width * image.height), 4),
    productBox,
  };
};
