import { IMAGE_FORMATS, type ImageFormat } from "./vocabulary.ts";

const startsWith = (bytes: Uint8Array, signature: readonly number[], offset = 0): boolean =>
  signature.every((byte, index) => bytes[offset + index] === byte);

const ascii = (bytes: Uint8Array, start: number, end: number): string =>
  String.fromCharCode(...bytes.subarray(start, end));

/** Formats sharp can decode but the engine refuses, named so the error says what the file is. */
const REFUSED_SIGNATURES: { name: string; article: "a" | "an"; test: (bytes: Uint8Array) => boolean }[] = [
  { name: "PDF", article: "a", test: (b) => ascii(b, 0, 5) === "%PDF-" },
  {
    name: "SVG",
    article: "an",
    test: (b) => /^\s*(<\?xml[^>]*>\s*)?(<!--[\s\S]*?-->\s*)*<svg[\s>]/i.test(ascii(b, 0, 512)),
  },
  {
    name: "HEIC",
    article: "a",
    test: (b) =>
      ascii(b, 4, 8) === "ftyp" && ["heic", "heix", "mif1", "msf1", "hevc"].includes(ascii(b, 8, 12)),
  },
];

/**
 * Identifies an image by its magic bytes, never by its name or declared type: a file's first bytes
 * are the only claim about its contents that whoever sent it cannot get wrong.
 */
export const sniffImageFormat = (bytes: Uint8Array): ImageFormat | undefined => {
  if (startsWith(bytes, [0xff, 0xd8, 0xff])) return "jpeg";
  if (startsWith(bytes, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return "png";
  if (ascii(bytes, 0, 4) === "RIFF" && ascii(bytes, 8, 12) === "WEBP") return "webp";
  if (ascii(bytes, 4, 8) === "ftyp" && ["avif", "avis"].includes(ascii(bytes, 8, 12))) return "avif";
  if (startsWith(bytes, [0x49, 0x49, 0x2a, 0x00]) || startsWith(bytes, [0x4d, 0x4d, 0x00, 0x2a]))
    return "tiff";
  if (ascii(bytes, 0, 6) === "GIF87a" || ascii(bytes, 0, 6) === "GIF89a") return "gif";
  return undefined;
};

/** A human name for what an unsupported file looks like, for the failure reason. */
export const describeUnsupported = (bytes: Uint8Array): string => {
  const refused = REFUSED_SIGNATURES.find((signature) => signature.test(bytes));
  if (refused) return `${refused.article} ${refused.name} file`;
  if (bytes.length === 0) return "an empty file";
  const printable = bytes
    .subarray(0, 256)
    .every((b) => b === 9 || b === 10 || b === 13 || (b >= 32 && b < 127));
  return printable ? "a text file" : "not an image";
};

const FORMAT_NAMES: Record<ImageFormat, string> = {
  jpeg: "JPEG",
  png: "PNG",
  webp: "WebP",
  avif: "AVIF",
  tiff: "TIFF",
  gif: "GIF",
};

export const formatName = (format: ImageFormat): string => FORMAT_NAMES[format];

/** "JPEG, PNG, WebP, AVIF, TIFF or GIF". */
export const SUPPORTED_FORMATS_TEXT = `${IMAGE_FORMATS.slice(0, -1).map(formatName).join(", ")} or ${formatName(IMAGE_FORMATS.at(-1) as ImageFormat)}`;
