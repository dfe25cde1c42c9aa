import sharp, { type Metadata } from "sharp";
import { PermanentFailure } from "./errors.ts";
import type { ImageFormat } from "./image-formats.ts";
import { type RawImage, toRaw } from "./raw-image.ts";

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
 * The one decode: shrink-on-load straight to the largest size any variant needs, auto-oriented (EXIF
 * orientation applied to the pixels), converted to 8-bit sRGB, alpha kept when the photo has it.
 * `failOn: "truncated"` makes a cut-off upload an error instead of a photo with a grey lower half.
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
    throw new PermanentFailure(
      "CORRUPT",
      `the ${format} file is truncated or corrupt and cannot be decoded; export the photo again and re-upload it`,
      { cause: error },
    );
  }
};
