/**
 * The imaging engine's one entry point: bytes in, a variant set (or an ImageError) out. It knows
 * nothing of products, queues or storage; everything below this folder is pure image work.
 */
import { asImageError, readImageHeader } from "./intake.ts";
import { type EngineResult, renderVariantSet } from "./render.ts";
import type { VariantSpec } from "./variant-spec.ts";

export { ImageError, type ImageProblem } from "./errors.ts";
export {
  EXTERNAL_IMAGE_LIMITS,
  type ExternalImageRequest,
  type FinishedImage,
  finishExternalImage,
  type Provenance,
} from "./external-image.ts";
export { SUPPORTED_FORMATS_TEXT } from "./formats.ts";
export { IMAGE_LIMITS } from "./intake.ts";
export { hammingDistance, hashBands, isNearDuplicate } from "./perceptual-hash.ts";
export { type Preview, previewImage } from "./preview.ts";
export type { EngineResult, OriginalAnalysis, RenderedVariant } from "./render.ts";
export { compareSameProduct, SAME_PRODUCT_THRESHOLDS, type SameProductReport } from "./same-product.ts";

export interface RenderRequest {
  variants: readonly VariantSpec[];
  /** Images whose header declares more pixels are refused before any is decoded. */
  maxPixels: number;
}

/**
 * Sniffs the format from the bytes, reads the header (refusing too many pixels before decoding), checks
 * the shape, then decodes once and renders every variant. Whatever goes wrong surfaces as an ImageError:
 * the same bytes fail the same way every time.
 */
export const renderImage = async (bytes: Uint8Array, request: RenderRequest): Promise<EngineResult> => {
  const header = await readImageHeader(bytes, { maxPixels: request.maxPixels });
  try {
    return await renderVariantSet(bytes, header, request.variants, request.maxPixels);
  } catch (error) {
    throw asImageError(error, header);
  }
};
