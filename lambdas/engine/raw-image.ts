import sharp, { type Sharp } from "sharp";

/**
 * Decoded pixels: the one decode of an image that every variant, assessment and hash is derived
 * from. Interleaved 8-bit sRGB, 3 channels (or 4 with alpha), row-major.
 */
export interface RawImage {
  data: Buffer;
  width: number;
  height: number;
  channels: 3 | 4;
}

/** A sharp pipeline reading a RawImage (no decode: the pixels are already in memory). */
export const fromRaw = (image: RawImage): Sharp =>
  sharp(image.data, { raw: { width: image.width, height: image.height, channels: image.channels } });

/** Runs a sharp pipeline to raw pixels, keeping alpha only if the pipeline has it. */
export const toRaw = async (pipeline: Sharp): Promise<RawImage> => {
  const { data, info } = await pipeline.raw().toBuffer({ resolveWithObject: true });
  if (info.channels !== 3 && info.channels !== 4) {
    throw new Error(`expected 3 or 4 channels, got ${info.channels}`);
  }
  return { data, width: info.width, height: info.height, channels: info.channels };
};
