import sharp from "sharp";
import { ImageError } from "./errors.ts";
import { SUPPORTED_FORMATS_TEXT, sniffImageFormat } from "./formats.ts";

export interface Preview {
  bytes: Uint8Array;
  mimeType: "image/jpeg";
  width: number;
  height: number;
}

/**
 * A photo as a model is shown it: upright (EXIF applied), sRGB, at most `maxSide` on its longer side, as a
 * JPEG with no metadata. A model bills by the pixels it is sent, and sees a product as well at 1024 px.
 */
export const previewImage = async (
  bytes: Uint8Array,
  { maxSide, maxPixels }: { maxSide: number; maxPixels: number },
): Promise<Preview> => {
  if (!sniffImageFormat(bytes)) throw new ImageError("NOT_AN_IMAGE", `not a ${SUPPORTED_FORMATS_TEXT} image`);
  try {
    const { data, info } = await sharp(bytes, { limitInputPixels: maxPixels, animated: false })
      .rotate()
      .resize({ width: maxSide, height: maxSide, fit: "inside", withoutEnlargement: true })
      .toColourspace("srgb")
      .flatten({ background: "#ffffff" })
      .jpeg({ quality: 85 })
      .toBuffer({ resolveWithObject: true });
    return { bytes: new Uint8Array(data), mimeType: "image/jpeg", width: info.width, height: info.height };
  } catch (error) {
    throw new ImageError("CORRUPT", "the photo could not be decoded for its preview", { cause: error });
  }
};
