/** What can be wrong with an image itself; the caller decides what a person should do about it. */
export type ImageProblem =
  /** The bytes are no format the engine decodes (text, PDF, SVG, HEIC, …). */
  | "NOT_AN_IMAGE"
  /** The header declares more pixels than the caller allows. */
  | "TOO_MANY_PIXELS"
  /** Too few pixels on a side to make anything of. */
  | "TOO_SMALL"
  /** The header or the pixel data cannot be read. */
  | "CORRUPT"
  /** One flat colour, or nearly: nothing to show (checked on images from outside the engine). */
  | "BLANK"
  /** A valid image that the engine failed on: a fault of the engine, never fixed by trying again. */
  | "UNPROCESSABLE";

/**
 * An image the engine cannot turn into variants, and why, in words about the image alone. Every failure
 * inside the engine surfaces as one: the pixels will be the same the next time, so none is worth a retry.
 */
export class ImageError extends Error {
  readonly problem: ImageProblem;
  /** For NOT_AN_IMAGE: what the bytes look like instead ("a PDF file", "a text file"). */
  readonly found: string | undefined;

  constructor(problem: ImageProblem, message: string, options: { cause?: unknown; found?: string } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "ImageError";
    this.problem = problem;
    this.found = options.found;
  }
}
