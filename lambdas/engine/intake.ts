import { type DecodedHeader, readHeader } from "./decode.ts";
import { ImageError } from "./errors.ts";
import { describeUnsupported, SUPPORTED_FORMATS_TEXT, sniffImageFormat } from "./formats.ts";

/** The limits below which an image is too degenerate to make variants of. */
export const IMAGE_LIMITS = {
  /** Fewer pixels than this on the shorter side is a speck, not a photo. */
  minSide: 16,
  /** A longer strip than this shrinks to a line of a pixel or two in every variant. */
  maxAspectRatio: 100,
} as const;

export interface IntakeLimits {
  /** Images whose header declares more pixels are refused before any is decoded. */
  maxPixels: number;
  /** Fewer pixels on the shorter side is refused (default `IMAGE_LIMITS.minSide`). */
  minSide?: number;
  /** What the messages call the image: "photo" (an upload, the default) or "image". */
  noun?: string;
}

const checkShape = (width: number, height: number, minSide: number, noun: string): void => {
  const shorter = Math.min(width, height);
  const longer = Math.max(width, height);
  if (shorter < minSide) {
    throw new ImageError(
      "TOO_SMALL",
      `the ${noun} is ${width}×${height} px; at least ${minSide} px is needed on each side`,
    );
  }
  if (longer / shorter > IMAGE_LIMITS.maxAspectRatio) {
    throw new ImageError(
      "TOO_SMALL",
      `the ${noun} is ${width}×${height} px, ${Math.round(longer / shorter)} times longer than it is wide; at most ${IMAGE_LIMITS.maxAspectRatio}:1 can be made into images`,
    );
  }
};

/**
 * What every image goes through before a pixel is decoded: the format sniffed from the bytes, the
 * header read (refusing too many pixels), the shape checked. Each refusal is an ImageError.
 */
export const readImageHeader = async (bytes: Uint8Array, limits: IntakeLimits): Promise<DecodedHeader> => {
  const format = sniffImageFormat(bytes);
  if (!format) {
    const found = describeUnsupported(bytes);
    throw new ImageError("NOT_AN_IMAGE", `the file is ${found}, not a ${SUPPORTED_FORMATS_TEXT} image`, {
      found,
    });
  }
  const header = await readHeader(bytes, format, limits.maxPixels);
  checkShape(header.width, header.height, limits.minSide ?? IMAGE_LIMITS.minSide, limits.noun ?? "photo");
  return header;
};

/**
 * Whatever went wrong past the intake, as an ImageError: the engine's own as they are, anything else as a
 * fault of the engine on this valid image. The same bytes fail the same way every time.
 */
export const asImageError = (error: unknown, header: DecodedHeader): ImageError =>
  error instanceof ImageError
    ? error
    : new ImageError(
        "UNPROCESSABLE",
        `the engine failed on this ${header.width}×${header.height} ${header.format} image`,
        { cause: error },
      );
