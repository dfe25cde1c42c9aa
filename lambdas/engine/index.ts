/**
 * The imaging engine's one entry point: bytes in, a variant set (or an ImageError) out. It knows
 * nothing of products, queues or storage; everything below this folder is pure image work.
 */
import { readHeader } from "./decode.ts";
import { ImageError } from "./errors.ts";
import { describeUnsupported, SUPPORTED_FORMATS_TEXT, sniffImageFormat } from "./formats.ts";
import { type EngineResult, renderVariantSet } from "./render.ts";
import type { VariantSpec } from "./variant-spec.ts";

export { ImageError, type ImageProblem } from "./errors.ts";
export { SUPPORTED_FORMATS_TEXT } from "./formats.ts";
export { hammingDistance, hashBands, isNearDuplicate } from "./perceptual-hash.ts";
export type { EngineResult, OriginalAnalysis, RenderedVariant } from "./render.ts";

/** The limits below which an image is too degenerate to make variants of. */
export const IMAGE_LIMITS = {
  /** Fewer pixels than this on the shorter side is a speck, not a photo. */
  minSide: 16,
  /** A longer strip than this shrinks to a line of a pixel or two in every variant. */
  maxAspectRatio: 100,
} as const;

export interface RenderRequest {
  variants: readonly VariantSpec[];
  /** Images whose header declares more pixels are refused before any is decoded. */
  maxPixels: number;
}

const checkShape = (width: number, height: number): void => {
  const shorter = Math.min(width, height);
  const longer = Math.max(width, height);
  if (shorter < IMAGE_LIMITS.minSide) {
    throw new ImageError(
      "TOO_SMALL",
      `the photo is ${width}×${height} px; at least ${IMAGE_LIMITS.minSide} px is needed on each side`,
    );
  }
  if (longer / shorter > IMAGE_LIMITS.maxAspectRatio) {
    throw new ImageError(
      "TOO_SMALL",
      `the photo is ${width}×${height} px, ${Math.round(longer / shorter)} times longer than it is wide; at most ${IMAGE_LIMITS.maxAspectRatio}:1 can be made into images`,
    );
  }
};

/**
 * Sniffs the format from the bytes, reads the header (refusing too many pixels before decoding), checks
 * the shape, then decodes once and renders every variant. Whatever goes wrong surfaces as an ImageError:
 * the same bytes fail the same way every time.
 */
export const renderImage = async (bytes: Uint8Array, request: RenderRequest): Promise<EngineResult> => {
  const format = sniffImageFormat(bytes);
  if (!format) {
    const found = describeUnsupported(bytes);
    throw new ImageError("NOT_AN_IMAGE", `the file is ${found}, not a ${SUPPORTED_FORMATS_TEXT} image`, {
      found,
    });
  }
  const header = await readHeader(bytes, format, request.maxPixels);
  checkShape(header.width, header.height);
  try {
    return await renderVariantSet(bytes, header, request.variants, request.maxPixels);
  } catch (error) {
    if (error instanceof ImageError) throw error;
    throw new ImageError(
      "UNPROCESSABLE",
      `the engine failed on this ${header.width}×${header.height} ${format} image`,
      { cause: error },
    );
  }
};
