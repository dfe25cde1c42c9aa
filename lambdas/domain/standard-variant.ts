import sharp, { type Metadata } from "sharp";
import { PermanentFailure } from "./errors.ts";
import type { ImageFormat } from "./image-formats.ts";

export const STANDARD_VARIANT = {
  name: "standard",
  mode: "STANDARD",
  maxSide: 2000,
  background: { r: 255, g: 255, b: 255 },
  jpegQuality: 85,
  contentType: "image/jpeg",
  extension: "jpg",
} as const;

export interface DecodedHeader {
  format: ImageFormat;
  width: number;
  height: number;
}

export interface RenderedVariant {
  body: Uint8Array;
  format: "jpeg";
  width: number;
  height: number;
  bytes: number;
}

const megapixels = (pixels: number): string => `${(pixels / 1_000_000).toFixed(1).replace(/\.0$/, "")} MP`;

/**
 * Reads dimensions from the header alone, so a 20000×20000 PNG of a few KB is refused before
 * a single pixel is decoded.
 */
export const readHeader = async (
  input: Uint8Array,
  format: ImageFormat,
  maxPixels: number,
): Promise<DecodedHeader> => {
  let metadata: Metadata;
  try {
    metadata = await sharp(input, { limitInputPixels: false }).metadata();
  } catch (error) {
    throw new PermanentFailure(
      "CORRUPT",
      `the ${format.toUpperCase()} file is corrupt and its header cannot be read; export the photo again and re-upload it`,
      { cause: error },
    );
  }
  const width = metadata.autoOrient?.width ?? metadata.width;
  const height = metadata.autoOrient?.height ?? metadata.height;
  if (!width || !height) {
    throw new PermanentFailure(
      "CORRUPT",
      `the ${format.toUpperCase()} file has no readable dimensions; export it again and re-upload it`,
    );
  }
  if (width * height > maxPixels) {
    throw new PermanentFailure(
      "TOO_MANY_PIXELS",
      `the photo is ${width}×${height} px (${megapixels(width * height)}); the limit is ${megapixels(maxPixels)}. Resize it and upload again`,
    );
  }
  return { format, width, height };
};

/**
 * The `standard` variant: auto-oriented, fit inside 2000×2000 (never enlarged), flattened on white,
 * sRGB JPEG (mozjpeg) with every metadata block (EXIF, GPS, XMP, ICC) stripped, which is sharp's default.
 * `failOn: "truncated"` makes a cut-off upload an error instead of a photo with a grey lower half.
 */
export const renderStandardVariant = async (
  input: Uint8Array,
  header: DecodedHeader,
  maxPixels: number,
): Promise<RenderedVariant> => {
  try {
    const { data, info } = await sharp(input, { limitInputPixels: maxPixels, failOn: "truncated", pages: 1 })
      .autoOrient()
      .resize({
        width: STANDARD_VARIANT.maxSide,
        height: STANDARD_VARIANT.maxSide,
        fit: "inside",
        withoutEnlargement: true,
      })
      .flatten({ background: STANDARD_VARIANT.background })
      .toColourspace("srgb")
      .jpeg({ quality: STANDARD_VARIANT.jpegQuality, mozjpeg: true })
      .toBuffer({ resolveWithObject: true });
    return { body: data, format: "jpeg", width: info.width, height: info.height, bytes: data.length };
  } catch (error) {
    throw new PermanentFailure(
      "CORRUPT",
      `the ${header.format.toUpperCase()} file is truncated or corrupt and cannot be decoded; export the photo again and re-upload it`,
      { cause: error },
    );
  }
};
