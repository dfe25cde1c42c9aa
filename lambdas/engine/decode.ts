import sharp, { type Metadata } from "sharp";
import { ImageError } from "./errors.ts";
import { formatName } from "./formats.ts";
import { type RawImage, toRaw } from "./raw-image.ts";
import type { ImageFormat } from "./vocabulary.ts";

export interface DecodedHeader {
  format: ImageFormat;
  width: number;
  height: number;
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
    throw new ImageError(
      "CORRUPT",
      `the ${formatName(format)} file is corrupt and its header cannot be read`,
      {
        cause: error,
      },
    );
  }
  const width = metadata.autoOrient?.width ?? metadata.width;
  const height = metadata.autoOrient?.height ?? metadata.height;
  if (!width || !height) {
    throw new ImageError("CORRUPT", `the ${formatName(format)} file has no readable dimensions`);
  }
  if (width * height > maxPixels) {
    throw new ImageError(
      "TOO_MANY_PIXELS",
      `the photo is ${width}×${height} px (${megapixels(width * height)}); the limit is ${megapixels(maxPixels)}`,
    );
  }
  return { format, width, height };
};

/**
 * The one decode: shrink-on-load straight to the largest size any variant needs, auto-oriented (EXIF
 * orientation applied to the pixels), converted to 8-bit sRGB, alpha kept when the photo has it.
 * `failOn: "truncated"` makes a cut-off file an error instead of a photo with a grey lower half.
 */
export const decodeMaster = async (
  input: Uint8Array,
  maxSide: number,
  maxPixels: number,
): Promise<RawImage> => {
  try {
    return await toRaw(
      sharp(input, { limitInputPixels: maxPixels, failOn: "truncated", pages: 1 })
        .autoOrient()
        .resize({ width: maxSide, height: maxSide, fit: "inside", withoutEnlargement: true })
        .toColourspace("srgb"),
    );
  } catch (error) {
    const format =
      (
        await sharp(input)
          .metadata()
          .catch(() => undefined)
      )?.format?.toUpperCase() ?? "photo";
    throw new ImageError("CORRUPT", `the ${format} file is truncated or corrupt and cannot be decoded`, {
      cause: error,
    });
  }
};
