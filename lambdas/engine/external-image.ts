import { crc32 } from "node:zlib";
import { decodeMaster } from "./decode.ts";
import { ENCODE_DEFAULTS, type Encoded, encode } from "./encode.ts";
import { ImageError } from "./errors.ts";
import { asImageError, readImageHeader } from "./intake.ts";
import { fitInside, standardize } from "./modes.ts";
import { PROFILES } from "./profiles.ts";
import { assessBackground, assessQuality, type QualityReport } from "./quality.ts";
import type { RawImage } from "./raw-image.ts";
import { keepsAlpha, masterSideFor } from "./render.ts";
import type { VariantSpec } from "./variant-spec.ts";

/**
 * An image the engine did not make (an AI model's edit of a photo), put through the engine's own
 * output stage: the checks every input gets, the same decode, the variant's size and encoder, and an
 * XMP packet saying how it was made.
 */

/** Who made the image, written into its XMP packet. */
export interface Provenance {
  /** The model that generated it: its id, with its version where the answer names one. */
  generator: string;
  /** Which prompt asked for it (an identifier, not the prompt's text). */
  promptId: string;
  createdAt: Date;
}

export interface ExternalImageRequest {
  /** Its size (`maxSide`, or the profile's square for STANDARDIZE and FULL), format and `targetKb`. */
  spec: VariantSpec;
  /** Images whose header declares more pixels are refused before any is decoded. */
  maxPixels: number;
  provenance: Provenance;
}

export interface FinishedImage {
  encoded: Encoded;
  quality: QualityReport;
  milliseconds: number;
}

export const EXTERNAL_IMAGE_LIMITS = {
  /**
   * The shorter side at least this: image models answer at 1024 px and up, so anything near the
   * photo limit (16 px) is a broken answer, and 64 px is the smallest thumbnail a listing shows.
   */
  minSide: 64,
  /**
   * Blank: the standard deviation of luma over the whole frame (at the quality assessment's 1024 px,
   * transparency shown on white) below this many levels of 0–255. A flat colour saved as JPEG
   * measures 0; the least varied corpus photo, a pale wood grain, 11.9 (see the test). 2 still passes a
   * white frame holding a dark object of 0.02% of its pixels (√0.0002 × 200 ≈ 2.8).
   */
  blankLumaStdDev: 2,
} as const;

/** IPTC's digital source type for media made by a trained model (NewsCodes, digitalsourcetype). */
export const AI_DIGITAL_SOURCE_TYPE =
  "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia";

const escapeXml = (text: string): string =>
  text.replace(
    /[<>&"']/g,
    (character) =>
      ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;", "'": "&apos;" })[character] ?? "",
  );

/**
 * The XMP packet marking an image AI-generated: IPTC's DigitalSourceType, and from IPTC Photo Metadata
 * 2025.1 AISystemUsed (the model) and AIPromptInformation (here the prompt's identifier, never its
 * text), with xmp:CreateDate.
 */
export const aiXmpPacket = (provenance: Provenance): string =>
  [
    '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>',
    '<x:xmpmeta xmlns:x="adobe:ns:meta/">',
    '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">',
    '<rdf:Description rdf:about=""',
    ' xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"',
    ' xmlns:xmp="http://ns.adobe.com/xap/1.0/"',
    ` Iptc4xmpExt:DigitalSourceType="${AI_DIGITAL_SOURCE_TYPE}"`,
    ` Iptc4xmpExt:AISystemUsed="${escapeXml(provenance.generator)}"`,
    ` Iptc4xmpExt:AIPromptInformation="${escapeXml(provenance.promptId)}"`,
    ` xmp:CreateDate="${provenance.createdAt.toISOString()}"/>`,
    "</rdf:RDF>",
    "</x:xmpmeta>",
    '<?xpacket end="r"?>',
  ].join("");

// The writers below put the packet into an encoded file without touching its image data: encode()
// writes no metadata and re-encoding with sharp's withXmp() would lose a generation and its size.

const u32 = (value: number): Buffer => {
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32BE(value);
  return bytes;
};

/** JPEG: an APP1 segment with Adobe's XMP namespace, after SOI and any APP0 (JFIF must come first). */
const jpegWithXmp = (file: Buffer, xmp: Buffer): Buffer => {
  const header = Buffer.from("http://ns.adobe.com/xap/1.0/\0", "latin1");
  const length = 2 + header.length + xmp.length;
  if (length > 0xffff)
    throw new RangeError(`an XMP packet of ${xmp.length} bytes does not fit a JPEG segment`);
  let at = 2;
  while (file[at] === 0xff && file[at + 1] === 0xe0) at += 2 + file.readUInt16BE(at + 2);
  const marker = Buffer.from([0xff, 0xe1, length >> 8, length & 0xff]);
  return Buffer.concat([file.subarray(0, at), marker, header, xmp, file.subarray(at)]);
};

/** PNG: an uncompressed iTXt chunk with the keyword "XML:com.adobe.xmp", right after IHDR. */
const pngWithXmp = (file: Buffer, xmp: Buffer): Buffer => {
  const afterHeader = 8 + 8 + file.readUInt32BE(8) + 4;
  // keyword, NUL, compression flag 0, method 0, empty language tag and translated keyword, each NUL-ended.
  const data = Buffer.concat([Buffer.from("iTXt" + "XML:com.adobe.xmp\0\0\0\0\0", "latin1"), xmp]);
  const chunk = Buffer.concat([u32(data.length - 4), data, u32(crc32(data))]);
  return Buffer.concat([file.subarray(0, afterHeader), chunk, file.subarray(afterHeader)]);
};

const riffChunk = (type: string, data: Buffer): Buffer => {
  const header = Buffer.alloc(8);
  header.write(type, 0, "latin1");
  header.writeUInt32LE(data.length, 4);
  return Buffer.concat([header, data, data.length % 2 ? Buffer.alloc(1) : Buffer.alloc(0)]);
};

/**
 * WebP: an "XMP " chunk at the end, announced by the XMP flag of the VP8X header. A simple file (one
 * VP8 or VP8L chunk) becomes an extended one; VP8L's own alpha bit sets the VP8X alpha flag.
 */
const webpWithXmp = (file: Buffer, xmp: Buffer, width: number, height: number): Buffer => {
  const first = file.toString("latin1", 12, 16);
  let chunks = file.subarray(12);
  if (first !== "VP8X") {
    const alpha = first === "VP8L" && ((file.readUInt32LE(21) >>> 28) & 1) === 1;
    const vp8x = Buffer.alloc(10);
    vp8x[0] = alpha ? 0x10 : 0;
    vp8x.writeUIntLE(width - 1, 4, 3);
    vp8x.writeUIntLE(height - 1, 7, 3);
    chunks = Buffer.concat([riffChunk("VP8X", vp8x), chunks]);
  }
  const body = Buffer.concat([chunks, riffChunk("XMP ", xmp)]);
  body[8] = (body[8] as number) | 0x04;
  const riff = Buffer.alloc(12);
  riff.write("RIFF", 0, "latin1");
  riff.writeUInt32LE(4 + body.length, 4);
  riff.write("WEBP", 8, "latin1");
  return Buffer.concat([riff, body]);
};

interface Box {
  type: string;
  start: number;
  /** Where the payload begins (after size, type and any 64-bit size). */
  payload: number;
  end: number;
}

const boxesIn = (file: Buffer, start: number, end: number): Box[] => {
  const boxes: Box[] = [];
  for (let at = start; at + 8 <= end; ) {
    const size32 = file.readUInt32BE(at);
    const size = size32 === 1 ? Number(file.readBigUInt64BE(at + 8)) : size32 === 0 ? end - at : size32;
    if (size < 8 || at + size > end)
      throw new RangeError(`a box of ${size} bytes at ${at} overruns its parent`);
    boxes.push({
      type: file.toString("latin1", at + 4, at + 8),
      start: at,
      payload: at + (size32 === 1 ? 16 : 8),
      end: at + size,
    });
    at += size;
  }
  return boxes;
};

const box = (type: string, ...payload: Buffer[]): Buffer => {
  const data = Buffer.concat(payload);
  return Buffer.concat([u32(8 + data.length), Buffer.from(type, "latin1"), data]);
};

const readSized = (file: Buffer, at: number, size: number): number =>
  size === 0 ? 0 : size === 8 ? Number(file.readBigUInt64BE(at)) : file.readUIntBE(at, size);

const writeSized = (value: number, size: number): Buffer => {
  const bytes = Buffer.alloc(size);
  if (size === 8) bytes.writeBigUInt64BE(BigInt(value));
  else if (size > 0) bytes.writeUIntBE(value, 0, size);
  return bytes;
};

/**
 * An `iloc` box rebuilt with every file offset at or past `movedFrom` moved by `delta`, and one more
 * item: `added`, one extent at a file offset.
 */
const ilocWith = (
  file: Buffer,
  iloc: Box,
  movedFrom: number,
  delta: number,
  added: { id: number; offset: number; length: number },
): Buffer => {
  const version = file[iloc.payload] as number;
  let at = iloc.payload + 4;
  const offsetSize = (file[at] as number) >> 4;
  const lengthSize = (file[at] as number) & 15;
  const baseSize = (file[at + 1] as number) >> 4;
  const indexSize = version > 0 ? (file[at + 1] as number) & 15 : 0;
  at += 2;
  const idSize = version < 2 ? 2 : 4;
  const count = readSized(file, at, idSize);
  at += idSize;
  if (offsetSize === 0 && baseSize === 0)
    throw new RangeError("an iloc without offsets cannot locate new data");
  const parts: Buffer[] = [file.subarray(iloc.payload, iloc.payload + 6), writeSized(count + 1, idSize)];
  for (let item = 0; item < count; item += 1) {
    const start = at;
    at += idSize;
    const method = version > 0 ? file.readUInt16BE(at) & 15 : 0;
    at += version > 0 ? 2 : 0;
    at += 2; // data_reference_index
    const base = readSized(file, at, baseSize);
    const moveBase = method === 0 && baseSize > 0 && base >= movedFrom;
    parts.push(file.subarray(start, at), writeSized(moveBase ? base + delta : base, baseSize));
    at += baseSize;
    const extents = file.readUInt16BE(at);
    parts.push(file.subarray(at, at + 2));
    at += 2;
    for (let extent = 0; extent < extents; extent += 1) {
      parts.push(file.subarray(at, at + indexSize));
      at += indexSize;
      const offset = readSized(file, at, offsetSize);
      const moveOffset = method === 0 && !moveBase && base + offset >= movedFrom && offsetSize > 0;
      parts.push(writeSized(moveOffset ? offset + delta : offset, offsetSize));
      at += offsetSize;
      parts.push(file.subarray(at, at + lengthSize));
      at += lengthSize;
    }
  }
  // With no offset field (offset_size 0), the base offset holds the file offset.
  const inBase = offsetSize === 0;
  parts.push(
    writeSized(added.id, idSize),
    Buffer.alloc(version > 0 ? 2 : 0), // construction_method 0: a file offset
    Buffer.alloc(2), // data_reference_index 0: this file
    writeSized(inBase ? added.offset : 0, baseSize),
    Buffer.from([0, 1]),
    Buffer.alloc(indexSize),
    writeSized(inBase ? 0 : added.offset, offsetSize),
    writeSized(added.length, lengthSize),
  );
  return box("iloc", ...parts);
};

/**
 * AVIF (HEIF): the packet as a hidden item of type "mime" (application/rdf+xml) describing the primary
 * item (a "cdsc" reference), its bytes in an mdat box of their own at the end of the file. The meta box
 * grows, so every file offset behind it moves by as much.
 */
const avifWithXmp = (file: Buffer, xmp: Buffer): Buffer => {
  const top = boxesIn(file, 0, file.length);
  const meta = top.find((candidate) => candidate.type === "meta");
  if (!meta) throw new RangeError("the AVIF file has no meta box");
  const children = boxesIn(file, meta.payload + 4, meta.end);
  const child = (type: string) => children.find((candidate) => candidate.type === type);
  const [iinf, iloc, pitm] = [child("iinf"), child("iloc"), child("pitm")];
  if (!iinf || !iloc || !pitm) throw new RangeError("the AVIF meta box lacks iinf, iloc or pitm");

  const pitmVersion = file[pitm.payload] as number;
  const primary = readSized(file, pitm.payload + 4, pitmVersion === 0 ? 2 : 4);
  const iinfVersion = file[iinf.payload] as number;
  const countSize = iinfVersion === 0 ? 2 : 4;
  const entries = boxesIn(file, iinf.payload + 4 + countSize, iinf.end);
  const id =
    1 +
    Math.max(
      ...entries.map((infe) =>
        readSized(file, infe.payload + 4, (file[infe.payload] as number) >= 3 ? 4 : 2),
      ),
    );
  const idSize = id > 0xffff ? 4 : 2;
  const infe = box(
    "infe",
    Buffer.from([idSize === 2 ? 2 : 3, 0, 0, 1]), // version, flags: hidden
    writeSized(id, idSize),
    Buffer.alloc(2),
    Buffer.from("mime\0application/rdf+xml\0", "latin1"),
  );
  const newIinf = box(
    "iinf",
    file.subarray(iinf.payload, iinf.payload + 4),
    writeSized(entries.length + 1, countSize),
    file.subarray(iinf.payload + 4 + countSize, iinf.end),
    infe,
  );
  const iref = child("iref");
  const irefVersion = iref ? (file[iref.payload] as number) : idSize === 2 ? 0 : 1;
  const refIdSize = irefVersion === 0 ? 2 : 4;
  if (refIdSize < idSize || primary > 2 ** (8 * refIdSize) - 1)
    throw new RangeError("item ids too large for iref");
  const cdsc = box("cdsc", writeSized(id, refIdSize), Buffer.from([0, 1]), writeSized(primary, refIdSize));
  const newIref = iref
    ? box("iref", file.subarray(iref.payload, iref.end), cdsc)
    : box("iref", Buffer.from([irefVersion, 0, 0, 0]), cdsc);

  // Every size is known before the offsets are: the iloc grows by one item of fixed size.
  const rebuild = (newIloc: Buffer) =>
    box(
      "meta",
      file.subarray(meta.payload, meta.payload + 4),
      ...children.map((part) =>
        part === iinf
          ? newIinf
          : part === iloc
            ? newIloc
            : part === iref
              ? newIref
              : file.subarray(part.start, part.end),
      ),
      ...(iref ? [] : [newIref]),
    );
  const draft = rebuild(ilocWith(file, iloc, meta.end, 0, { id, offset: 0, length: xmp.length }));
  const delta = draft.length - (meta.end - meta.start);
  // A last box sized "to the end of the file" gets its size written out, or it would swallow the new mdat.
  const last = top.at(-1) as Box;
  const lastOpen = file.readUInt32BE(last.start) === 0;
  if (lastOpen && last.end - last.start > 0xffffffff) throw new RangeError("an open-ended box over 4 GB");
  const tail = Buffer.from(file.subarray(meta.end));
  if (lastOpen) tail.writeUInt32BE(last.end - last.start, last.start - meta.end);
  const xmpOffset = file.length + delta + 8;
  const newMeta = rebuild(
    ilocWith(file, iloc, meta.end, delta, { id, offset: xmpOffset, length: xmp.length }),
  );
  return Buffer.concat([file.subarray(0, meta.start), newMeta, tail, box("mdat", xmp)]);
};

/** The encoded file with the packet added, its image data untouched. */
export const withXmp = (encoded: Encoded, packet: string): Buffer => {
  const xmp = Buffer.from(packet, "utf8");
  switch (encoded.format) {
    case "jpeg":
      return jpegWithXmp(encoded.body, xmp);
    case "png":
      return pngWithXmp(encoded.body, xmp);
    case "webp":
      return webpWithXmp(encoded.body, xmp, encoded.width, encoded.height);
    case "avif":
      return avifWithXmp(encoded.body, xmp);
  }
};

/**
 * Bytes a packet adds to a file beyond its own length, at most: AVIF's item entry, location, reference
 * and mdat header come to ≤ 119; WebP's VP8X and chunk header 27; PNG's iTXt 34; JPEG's APP1 33.
 */
const XMP_CONTAINER_BYTES = 128;

const producesProfile = (spec: VariantSpec) => spec.mode === "STANDARDIZE" || spec.mode === "FULL";

/**
 * The variant's encode with the packet in it. With a target, the search aims at the target less the
 * packet, so the file with its packet stays within the target; at the encoder's floor (50 KB), where
 * nothing can come off, the quality steps down (then, at the lowest quality, the size by 5%) until it
 * does.
 */
const encodeWithPacket = async (
  image: RawImage,
  spec: VariantSpec,
  keepAlpha: boolean,
  packet: string,
): Promise<Encoded> => {
  const options = { format: spec.format, keepAlpha };
  if (spec.targetKb === undefined) {
    const encoded = await encode(image, options);
    const body = withXmp(encoded, packet);
    return { ...encoded, body, bytes: body.length, size: { ...encoded.size, bytes: body.length } };
  }
  const targetBytes = Math.floor(spec.targetKb * 1024);
  const reserve = Buffer.byteLength(packet) + XMP_CONTAINER_BYTES;
  const { minTargetKb, lowerBound } = ENCODE_DEFAULTS.search;
  const searched = await encode(image, {
    ...options,
    targetKb: Math.max(minTargetKb, (targetBytes - reserve) / 1024),
  });
  let encoded = searched;
  let body = withXmp(encoded, packet);
  const settings = ENCODE_DEFAULTS.formats[spec.format];
  const attempts = [...searched.size.attempts];
  if (body.length > targetBytes) {
    // PNG's lossless encode (quality null) steps down to its top palette quality.
    let quality = searched.size.quality ?? ENCODE_DEFAULTS.formats.png.maxQuality + 1;
    let sized =
      searched.size.scale < 1 ? await fitInside(image, Math.max(searched.width, searched.height)) : image;
    while (body.length > targetBytes) {
      if (quality > settings.minQuality) quality -= 1;
      else sized = await fitInside(image, Math.floor(0.95 * Math.max(sized.width, sized.height)));
      encoded = await encode(sized, { ...options, quality });
      const scale = sized.width / image.width;
      attempts.push(...encoded.size.attempts.map((attempt) => ({ ...attempt, scale })));
      body = withXmp(encoded, packet);
    }
  }
  const scale = encoded.width / image.width;
  return {
    ...encoded,
    body,
    bytes: body.length,
    size: {
      ...encoded.size,
      targetBytes,
      bytes: body.length,
      encodes: attempts.length,
      sampleEncodes: attempts.filter((attempt) => attempt.sample !== undefined).length,
      attempts,
      scale,
      outcome:
        encoded === searched
          ? searched.size.outcome
          : scale < 1 && searched.size.outcome === "scaled-down"
            ? "scaled-down"
            : body.length >= lowerBound * targetBytes
              ? "met"
              : "below-window",
    },
  };
};

/**
 * Puts an image from outside the engine (an AI model's edit) through the engine's output stage, and
 * refuses one that is no usable image, each refusal an ImageError saying what is wrong:
 * - the checks every photo gets (a format the engine decodes, pixels within `maxPixels`, a sane
 *   shape), with at least `EXTERNAL_IMAGE_LIMITS.minSide` px on the shorter side;
 * - a decode as photos are decoded (EXIF orientation applied, sRGB), fitted to the variant's size;
 * - not blank: one flat colour, or nearly (`EXTERNAL_IMAGE_LIMITS.blankLumaStdDev`).
 * Then the variant's framing (STANDARDIZE and FULL: the object trimmed and centred on the profile's
 * white square, as the modes do it; the other modes' edits are the model's to make, so none is
 * applied), `maxSide`, and its encode (format, `targetKb`, alpha kept where the format allows), with
 * no metadata but the AI packet (`aiXmpPacket`).
 */
export const finishExternalImage = async (
  bytes: Uint8Array,
  request: ExternalImageRequest,
): Promise<FinishedImage> => {
  const started = performance.now();
  const { spec, maxPixels } = request;
  const header = await readImageHeader(bytes, {
    maxPixels,
    minSide: EXTERNAL_IMAGE_LIMITS.minSide,
    noun: "image",
  });
  try {
    const decoded = await decodeMaster(bytes, masterSideFor([spec]), maxPixels);
    const decodedQuality = await assessQuality(decoded);
    const spread = decodedQuality.measurements.luminanceStdDev;
    if (spread < EXTERNAL_IMAGE_LIMITS.blankLumaStdDev) {
      throw new ImageError(
        "BLANK",
        `the image is blank: one flat colour (luminance varies by ${spread.toFixed(1)} levels; at least ${EXTERNAL_IMAGE_LIMITS.blankLumaStdDev} is needed)`,
      );
    }
    let image = decoded;
    if (producesProfile(spec)) {
      const framed = await standardize(
        decoded,
        await assessBackground(decoded),
        PROFILES[spec.profile ?? "amazon"],
        spec.fullSide,
      );
      if (framed.kind === "rendered") image = framed.image;
    }
    if (spec.maxSide) image = await fitInside(image, spec.maxSide);
    const keepAlpha = keepsAlpha(spec, image);
    const [encoded, quality] = await Promise.all([
      encodeWithPacket(image, spec, keepAlpha, aiXmpPacket(request.provenance)),
      image === decoded ? Promise.resolve(decodedQuality) : assessQuality(image),
    ]);
    return { encoded, quality, milliseconds: performance.now() - started };
  } catch (error) {
    throw asImageError(error, header);
  }
};
