import { readFile } from "node:fs/promises";
import sharp from "sharp";
import { beforeAll, describe, expect, it } from "vitest";
import { type DecodedHeader, decodeMaster, readHeader } from "../../lambdas/engine/decode.ts";
import { encode } from "../../lambdas/engine/encode.ts";
import { ImageError } from "../../lambdas/engine/errors.ts";
import { blackBilevelPng } from "../support/fixtures.ts";
import { CORPUS } from "../support/upload.ts";

const MAX_PIXELS = 100_000_000;

/** What every JPEG variant starts from: the one decode (fit inside 2000 px), encoded as a JPEG. */
const render = async (input: Uint8Array, format: DecodedHeader["format"]) => {
  await readHeader(input, format, MAX_PIXELS);
  return encode(await decodeMaster(input, 2000, MAX_PIXELS), { format: "jpeg" });
};

/** The first pixel at (x, y) of an encoded image, as [r, g, b]. */
const pixelAt = async (encoded: Uint8Array, x: number, y: number): Promise<number[]> => {
  const { data, info } = await sharp(encoded).raw().toBuffer({ resolveWithObject: true });
  const offset = (y * info.width + x) * info.channels;
  return [...data.subarray(offset, offset + 3)];
};

let ladyBird: Buffer;
let apple: Buffer;
let box: Buffer;
let bomb: Buffer;

beforeAll(async () => {
  [ladyBird, apple, box] = await Promise.all([
    readFile(`${CORPUS}LadyBird.jpg`),
    readFile(`${CORPUS}apple.jpg`),
    readFile(`${CORPUS}box.png`),
  ]);
  bomb = blackBilevelPng(20000, 20000);
});

describe("readHeader", () => {
  it("reads dimensions of a valid photo", async () => {
    await expect(readHeader(ladyBird, "jpeg", MAX_PIXELS)).resolves.toEqual({
      format: "jpeg",
      width: 2560,
      height: 1600,
    });
  });

  it("refuses a 20000×20000 PNG of a few KB from its header alone", async () => {
    expect(bomb.length).toBeLessThan(100_000);
    expect(await sharp(bomb, { limitInputPixels: false }).metadata()).toMatchObject({
      format: "png",
      width: 20000,
      height: 20000,
    });
    const refusal = readHeader(bomb, "png", MAX_PIXELS);
    await expect(refusal).rejects.toThrow(ImageError);
    await expect(refusal).rejects.toMatchObject({
      problem: "TOO_MANY_PIXELS",
      message: "the photo is 20000×20000 px (400 MP); the limit is 100 MP",
    });
  });

  it("accepts a photo of exactly the limit", async () => {
    await expect(readHeader(bomb, "png", 20000 * 20000)).resolves.toEqual({
      format: "png",
      width: 20000,
      height: 20000,
    });
  });

  it("refuses bytes whose header cannot be read, naming the format", async () => {
    const garbage = Uint8Array.from({ length: 256 }, (_, index) => (index * 151 + 7) % 256);
    await expect(readHeader(garbage, "webp", MAX_PIXELS)).rejects.toMatchObject({
      name: "ImageError",
      problem: "CORRUPT",
      message: "the WebP file is corrupt and its header cannot be read",
    });
  });

  it("reports dimensions after EXIF orientation", async () => {
    const rotated = await sharp({ create: { width: 300, height: 100, channels: 3, background: "#00f" } })
      .jpeg()
      .withMetadata({ orientation: 6 })
      .toBuffer();
    await expect(readHeader(rotated, "jpeg", MAX_PIXELS)).resolves.toEqual({
      format: "jpeg",
      width: 100,
      height: 300,
    });
  });
});

describe("decodeMaster, encoded as JPEG", () => {
  it("fits a large photo inside 2000×2000 as a metadata-free sRGB JPEG", async () => {
    const input = await sharp(ladyBird).metadata();
    expect(input.exif).toBeDefined(); // so "no exif" below means it was stripped

    const output = await render(ladyBird, "jpeg");
    expect(output).toMatchObject({ format: "jpeg", width: 2000, height: 1250, bytes: output.body.length });
    const metadata = await sharp(output.body).metadata();
    expect(metadata).toMatchObject({ format: "jpeg", width: 2000, height: 1250, space: "srgb", channels: 3 });
    expect(metadata.exif).toBeUndefined();
    expect(metadata.icc).toBeUndefined();
    expect(metadata.xmp).toBeUndefined();
  });

  it("does not enlarge a small photo", async () => {
    const output = await render(apple, "jpeg");
    expect(output).toMatchObject({ width: 512, height: 512 });
    expect(await sharp(output.body).metadata()).toMatchObject({ format: "jpeg", width: 512, height: 512 });
  });

  it("flattens transparency onto white", async () => {
    const input = await sharp({
      create: { width: 100, height: 100, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } },
    })
      .composite([
        {
          input: {
            create: { width: 40, height: 40, channels: 4, background: { r: 255, g: 0, b: 0, alpha: 1 } },
          },
          top: 30,
          left: 30,
        },
      ])
      .png()
      .toBuffer();
    expect(await sharp(input).metadata()).toMatchObject({ channels: 4, hasAlpha: true });

    const output = await render(input, "png");
    const { data, info } = await sharp(output.body).raw().toBuffer({ resolveWithObject: true });
    expect(info).toMatchObject({ width: 100, height: 100, channels: 3 });
    const at = (x: number, y: number) => [...data.subarray((y * 100 + x) * 3, (y * 100 + x) * 3 + 3)];
    for (const [x, y] of [
      [0, 0],
      [99, 0],
      [0, 99],
      [99, 99],
    ] as const) {
      for (const channel of at(x, y)) expect(channel).toBeGreaterThanOrEqual(250);
    }
    const [r = 0, g = 255, b = 255] = at(50, 50);
    expect(r).toBeGreaterThanOrEqual(250);
    expect(g).toBeLessThanOrEqual(5);
    expect(b).toBeLessThanOrEqual(5);
  });

  it("applies EXIF orientation to the pixels and drops the EXIF", async () => {
    // Stored 300×100: red left half, blue right half; orientation 6 means "rotate 90° clockwise to view".
    const input = await sharp({ create: { width: 300, height: 100, channels: 3, background: "#00f" } })
      .composite([
        { input: { create: { width: 150, height: 100, channels: 3, background: "#f00" } }, left: 0, top: 0 },
      ])
      .jpeg()
      .withMetadata({ orientation: 6 })
      .toBuffer();
    expect(await sharp(input).metadata()).toMatchObject({ width: 300, height: 100, orientation: 6 });

    const output = await render(input, "jpeg");
    expect(output).toMatchObject({ width: 100, height: 300 });
    const metadata = await sharp(output.body).metadata();
    expect(metadata).toMatchObject({ width: 100, height: 300 });
    expect(metadata.exif).toBeUndefined();
    expect(metadata.orientation).toBeUndefined();
    // After a clockwise quarter turn the stored left (red) is on top and the right (blue) below.
    const [topR = 0, , topB = 255] = await pixelAt(output.body, 50, 20);
    const [bottomR = 255, , bottomB = 0] = await pixelAt(output.body, 50, 280);
    expect(topR).toBeGreaterThan(200);
    expect(topB).toBeLessThan(50);
    expect(bottomR).toBeLessThan(50);
    expect(bottomB).toBeGreaterThan(200);
  });

  it("refuses a truncated JPEG whose header still reads", async () => {
    const truncated = apple.subarray(0, Math.floor(apple.length * 0.6));
    const header = await readHeader(truncated, "jpeg", MAX_PIXELS);
    expect(header).toEqual({ format: "jpeg", width: 512, height: 512 });

    const rendering = decodeMaster(truncated, 2000, MAX_PIXELS);
    await expect(rendering).rejects.toThrow(ImageError);
    await expect(rendering).rejects.toMatchObject({
      problem: "CORRUPT",
      message: "the JPEG file is truncated or corrupt and cannot be decoded",
    });
  });

  it("converts a CMYK JPEG to sRGB", async () => {
    const input = await sharp({ create: { width: 64, height: 64, channels: 3, background: "#3366cc" } })
      .toColourspace("cmyk")
      .jpeg()
      .toBuffer();
    expect(await sharp(input).metadata()).toMatchObject({ space: "cmyk", channels: 4 });

    const output = await render(input, "jpeg");
    expect(await sharp(output.body).metadata()).toMatchObject({ format: "jpeg", space: "srgb", channels: 3 });
    const [r = 0, g = 0, b = 0] = await pixelAt(output.body, 32, 32);
    expect(b).toBeGreaterThan(g);
    expect(g).toBeGreaterThan(r);
  });

  it("converts a Display P3 photo's colours to sRGB before dropping its profile", async () => {
    // sharp converts sRGB #c86432 into P3 values when it embeds the P3 profile.
    const input = await sharp({
      create: { width: 16, height: 16, channels: 3, background: { r: 200, g: 100, b: 50 } },
    })
      .withIccProfile("p3")
      .jpeg({ quality: 100 })
      .toBuffer();
    const stored = await sharp(input, { ignoreIcc: true }).raw().toBuffer();
    expect(Math.abs((stored[0] ?? 0) - 200)).toBeGreaterThan(8); // the file's numbers are not sRGB's

    const output = await render(input, "jpeg");
    const metadata = await sharp(output.body).metadata();
    expect(metadata).toMatchObject({ space: "srgb", channels: 3 });
    expect(metadata.icc).toBeUndefined();
    const [r = 0, g = 0, b = 0] = await pixelAt(output.body, 8, 8);
    expect(Math.abs(r - 200)).toBeLessThanOrEqual(4);
    expect(Math.abs(g - 100)).toBeLessThanOrEqual(4);
    expect(Math.abs(b - 50)).toBeLessThanOrEqual(4);
  });

  it("turns a 16-bit PNG into an 8-bit 3-channel sRGB JPEG", async () => {
    const input = await sharp({ create: { width: 64, height: 48, channels: 3, background: "#3366cc" } })
      .toColourspace("rgb16")
      .png()
      .toBuffer();
    expect(await sharp(input).metadata()).toMatchObject({ depth: "ushort", bitsPerSample: 16 });

    const output = await render(input, "png");
    expect(await sharp(output.body).metadata()).toMatchObject({
      format: "jpeg",
      width: 64,
      height: 48,
      space: "srgb",
      channels: 3,
      depth: "uchar",
    });
    const [r = 0, g = 0, b = 0] = await pixelAt(output.body, 32, 24);
    expect(Math.abs(r - 0x33)).toBeLessThanOrEqual(4);
    expect(Math.abs(g - 0x66)).toBeLessThanOrEqual(4);
    expect(Math.abs(b - 0xcc)).toBeLessThanOrEqual(4);
  });

  it("turns a greyscale PNG into a 3-channel sRGB JPEG", async () => {
    expect(await sharp(box).metadata()).toMatchObject({ channels: 1, space: "b-w" });

    const output = await render(box, "png");
    expect(await sharp(output.body).metadata()).toMatchObject({
      format: "jpeg",
      width: 324,
      height: 223,
      space: "srgb",
      channels: 3,
    });
  });
});
