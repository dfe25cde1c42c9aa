import { type DecodedHeader, decodeMaster } from "./decode.ts";
import { type Encoded, encode } from "./encode.ts";
import {
  type AppliedOperation,
  applyMode,
  fitInside,
  type MasterAnalysis,
  type ModeResult,
  RECIPES,
} from "./modes.ts";
import { type PerceptualHashes, perceptualHashes } from "./perceptual-hash.ts";
import { type ComplianceReport, checkCompliance, PROFILES } from "./profiles.ts";
import { assessBackground, assessQuality, type BackgroundReport, type QualityReport } from "./quality.ts";
import type { RawImage } from "./raw-image.ts";
import type { VariantSpec } from "./variant-spec.ts";
import type { ProfileName } from "./vocabulary.ts";

const MASTER_MAX_SIDE = 2048;

export type RenderedVariant =
  | {
      kind: "rendered";
      spec: VariantSpec;
      encoded: Encoded;
      operations: AppliedOperation[];
      quality: QualityReport;
      compliance: ComplianceReport | undefined;
      milliseconds: number;
    }
  | {
      kind: "skipped";
      spec: VariantSpec;
      reason: string;
      operations: AppliedOperation[];
      milliseconds: number;
    };

export interface OriginalAnalysis {
  width: number;
  height: number;
  format: string;
  quality: QualityReport;
  background: BackgroundReport;
  /** How the original itself measures against each marketplace's rules. */
  compliance: Record<ProfileName, ComplianceReport>;
  hashes: PerceptualHashes;
}

export interface EngineResult {
  original: OriginalAnalysis;
  variants: RenderedVariant[];
  decodeMilliseconds: number;
  /** The master's assessment, background report and hashes: a fixed cost of every photo. */
  assessMilliseconds: number;
}

const producesProfile = (spec: VariantSpec) => spec.mode === "STANDARDIZE" || spec.mode === "FULL";

/** The largest side any variant needs from the master: every variant is derived from this one decode. */
export const masterSideFor = (specs: readonly VariantSpec[]): number =>
  Math.min(
    MASTER_MAX_SIDE,
    Math.max(
      ...specs.map((spec) => {
        if (producesProfile(spec)) return PROFILES[spec.profile ?? "amazon"].side;
        if (spec.maxSide) return spec.maxSide;
        if (spec.mode === "OPTIMIZE") return RECIPES.optimize.maxSide;
        return 2000;
      }),
    ),
  );

const originalCompliance = (
  header: DecodedHeader,
  master: RawImage,
  background: BackgroundReport,
): Record<ProfileName, ComplianceReport> => {
  // The master may be smaller than the upload: measure the product box at the upload's own size.
  const scale = header.width / master.width;
  const box = background.productBox;
  const atOriginalSize: BackgroundReport = {
    ...background,
    productBox: {
      left: Math.round(box.left * scale),
      top: Math.round(box.top * scale),
      width: Math.round(box.width * scale),
      height: Math.round(box.height * scale),
    },
  };
  const input = {
    width: header.width,
    height: header.height,
    format: header.format,
    bytes: 0,
    colourSpace: "srgb",
    background: atOriginalSize,
  };
  return {
    amazon: checkCompliance("amazon", input),
    shopify: checkCompliance("shopify", input),
    google: checkCompliance("google", input),
  };
};

/** Formats that can carry transparency keep the master's, where it has any. */
export const keepsAlpha = (spec: VariantSpec, master: RawImage): boolean =>
  spec.format !== "jpeg" && master.channels === 4;

/** A variant's pixels, ready to encode: its mode applied to the master, then fitted inside its `maxSide`. */
export const variantPixels = async (
  master: RawImage,
  spec: VariantSpec,
  analysis: Promise<MasterAnalysis>,
): Promise<ModeResult> => {
  const result = await applyMode(spec.mode, master, {
    analysis,
    profile: spec.profile,
    keepAlpha: keepsAlpha(spec, master),
    maxSide: spec.maxSide,
    fullSide: spec.fullSide,
  });
  // OPTIMIZE fits inside maxSide itself.
  if (result.kind === "skipped" || !spec.maxSide || spec.mode === "OPTIMIZE") return result;
  return { ...result, image: await fitInside(result.image, spec.maxSide) };
};

const renderVariant = async (
  master: RawImage,
  spec: VariantSpec,
  analysis: Promise<MasterAnalysis>,
): Promise<RenderedVariant> => {
  const started = performance.now();
  const result = await variantPixels(master, spec, analysis);
  if (result.kind === "skipped") {
    return {
      kind: "skipped",
      spec,
      reason: result.reason,
      operations: result.operations,
      milliseconds: performance.now() - started,
    };
  }
  const { image } = result;
  const [encoded, after, afterBackground] = await Promise.all([
    encode(image, {
      format: spec.format,
      ...(spec.targetKb ? { targetKb: spec.targetKb } : {}),
      keepAlpha: keepsAlpha(spec, master) && image.channels === 4,
    }),
    // AUTO with nothing to correct, or OPTIMIZE of a photo already small enough, hands back the master
    // itself: its assessment is already made.
    image === master ? analysis.then(({ quality }) => quality) : assessQuality(image),
    producesProfile(spec) ? assessBackground(image) : Promise.resolve(undefined),
  ]);
  const compliance = afterBackground
    ? checkCompliance(spec.profile ?? "amazon", {
        width: encoded.width,
        height: encoded.height,
        format: encoded.format,
        bytes: encoded.bytes,
        colourSpace: "srgb",
        background: afterBackground,
      })
    : undefined;
  return {
    kind: "rendered",
    spec,
    encoded,
    operations: result.operations,
    quality: after,
    compliance,
    milliseconds: performance.now() - started,
  };
};

/**
 * Turns one image into its variant set: decode once, assess and hash the master, then derive every
 * variant from it, the variants' work (and their encodes) running concurrently.
 */
export const renderVariantSet = async (
  input: Uint8Array,
  header: DecodedHeader,
  specs: readonly VariantSpec[],
  maxPixels: number,
): Promise<EngineResult> => {
  const decodeStarted = performance.now();
  const master = await decodeMaster(input, masterSideFor(specs), maxPixels);
  const decodeMilliseconds = performance.now() - decodeStarted;
  const assessStarted = performance.now();
  let assessMilliseconds = 0;
  const analysis: Promise<MasterAnalysis> = Promise.all([
    assessQuality(master),
    assessBackground(master),
  ]).then(([quality, background]) => {
    assessMilliseconds = performance.now() - assessStarted;
    return { quality, background };
  });
  // The variants start beside the assessment (its pixel work runs as the event loop's next task): the
  // modes that do not read it (OPTIMIZE's web copy and thumbnail, …) keep the cores busy meanwhile. A
  // variant with a target size is a chain of encodes, each waiting for the last: started first, its
  // steps are queued ahead of the other variants' single encodes, which fill the cores around it.
  const started = new Map<VariantSpec, Promise<RenderedVariant>>();
  for (const spec of [...specs].sort(
    (a, b) => Number(b.targetKb !== undefined) - Number(a.targetKb !== undefined),
  )) {
    started.set(spec, renderVariant(master, spec, analysis));
  }
  const [variants, { quality, background }, hashes] = await Promise.all([
    Promise.all(specs.map((spec) => started.get(spec) as Promise<RenderedVariant>)),
    analysis,
    // The hashes are for the catalogue's duplicate search, which no variant waits on.
    analysis.then(() => perceptualHashes(master)),
  ]);
  // The assessment of the master describes the input, at the input's own resolution.
  const originalQuality: QualityReport = {
    ...quality,
    measurements: {
      ...quality.measurements,
      width: header.width,
      height: header.height,
      megapixels: (header.width * header.height) / 1_000_000,
    },
  };
  return {
    original: {
      width: header.width,
      height: header.height,
      format: header.format,
      quality: originalQuality,
      background,
      compliance: originalCompliance(header, master, background),
      hashes,
    },
    variants,
    decodeMilliseconds,
    assessMilliseconds,
  };
};
