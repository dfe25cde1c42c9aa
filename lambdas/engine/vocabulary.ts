/**
 * The engine's name lists, declared once. Free of sharp, so the API Lambdas and the configuration can
 * validate a variant without carrying an image library in their bundles.
 */

/** What the engine can decode, named by the format it sniffs from the bytes. */
export const IMAGE_FORMATS = ["jpeg", "png", "webp", "avif", "tiff", "gif"] as const;
export type ImageFormat = (typeof IMAGE_FORMATS)[number];

/** What it can write. */
export const OUTPUT_FORMATS = ["jpeg", "png", "webp", "avif"] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

export const MODES = [
  "AUTO",
  "LIGHT_CORRECTION",
  "SHARPEN",
  "DENOISE",
  "UPSCALE",
  "UPSCALE_DENOISE",
  "STANDARDIZE",
  "BACKGROUND_REMOVE",
  "OPTIMIZE",
  "FULL",
] as const;
export type Mode = (typeof MODES)[number];

/** The marketplaces whose image rules STANDARDIZE targets and the compliance report checks. */
export const PROFILE_NAMES = ["amazon", "shopify", "google"] as const;
export type ProfileName = (typeof PROFILE_NAMES)[number];
