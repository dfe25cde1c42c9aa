import { readdir, readFile } from "node:fs/promises";
import sharp from "sharp";
import { beforeAll, describe, expect, it } from "vitest";
import { decodeMaster } from "../../lambdas/engine/decode.ts";
import { encode } from "../../lambdas/engine/encode.ts";
import {
  AI_DIGITAL_SOURCE_TYPE,
  aiXmpPacket,
  EXTERNAL_IMAGE_LIMITS,
  type Provenance,
  withXmp,
} from "../../lambdas/engine/external-image.ts";
import { finishExternalImage, ImageError } from "../../lambdas/engine/index.ts";
import { type RawImage, toRaw } from "../../lambdas/engine/raw-image.ts";
import type { VariantSpec } from "../../lambdas/engine/variant-spec.ts";
import { OUTPUT_FORMATS } from "../../lambdas/engine/vocabulary.ts";
import { CORPUS } from "../support/upload.ts";

const MAX_PIXELS = 100_000_000;

const PROVENANCE: Provenance = {
  generator: "image-model-2.5",
  promptId: "studio-white-v1",
  createdAt: new Date("2025-06-01T12:34:56.789Z"),
};

const spec = (extra: Partial<VariantSpec> = {}): VariantSpec => ({
  name: "ai-studio",
  mode: "OPTIMIZE",
  format: "jpeg",
  ...extra,
});

const finish = (bytes: Uint8Array, extra: Partial<VariantSpec> = {}, maxPixels = MAX_PIXELS) =>
  finishExternalImage(bytes, { spec: spec(extra), maxPixels, provenance: PROVENANCE });

/** The packet's value of one attribute, as a reader of the file finds it. */
const attribute = (xmp: string, name: string): string | undefined =>
  new RegExp(`${name}="([^"]*)"`)
    .exec(xmp)?.[1]
    ?.replace(
      /&(lt|gt|quot|apos|amp);/g,
      (_, entity: string) => ({ lt: "<", gt: ">", quot: '"', apos: "'", amp: "&" })[entity] ?? "",
    );

const expectAiPacketOnly = async (body: Buffer, provenance = PROVENANCE) => {
  const metadata = await sharp(body).metadata();
  expect(metadata.exif).toBeUndefined();
  expect(metadata.icc).toBeUndefined();
  expect(metadata.iptc).toBeUndefined();
  expect(metadata.space).toBe("srgb");
  const xmp = metadata.xmpAsString ?? "";
  expect(attribute(xmp, "Iptc4xmpExt:DigitalSourceType")).toBe(AI_DIGITAL_SOURCE_TYPE);
  expect(AI_DIGITAL_SOURCE_TYPE).toBe(
    "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia",
  );
  expect(attribute(xmp, "Iptc4xmpExt:AISystemUsed")).toBe(provenance.generator);
  expect(attribute(xmp, "Iptc4xmpExt:AIPromptInformation")).toBe(provenance.promptId);
  expect(attribute(xmp, "xmp:CreateDate")).toBe(provenance.createdAt.toISOString());
  return metadata;
};

const pixels = async (body: Buffer) => {
  const { data, info } = await sharp(body).raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height, channels: info.channels };
};

/** A Gemini-like answer: a corpus photo as a 1024 px square PNG. */
let aiAnswer: Buffer;
let apple: RawImage;
let chicky: RawImage;
beforeAll(async () => {
  aiAnswer = await sharp(`${CORPUS}orange.jpg`)
    .resize(1024, 1024, { fit: "contain", background: "#ffffff" })
    .png()
    .toBuffer();
  apple = await toRaw(sharp(`${CORPUS}apple.jpg`).toColourspace("srgb"));
  chicky = await toRaw(sharp(`${CORPUS}chicky_512.png`).toColourspace("srgb"));
});

describe("withXmp", () => {
  // Opaque and transparent pixels through every encoder, WebP both lossy (VP8X + ALPH) and lossless
  // (a simple VP8L file that must become an extended one).
  const cases = OUTPUT_FORMATS.flatMap((format) => [
    { format, alpha: false, quality: undefined as number | undefined },
    { format, alpha: true, quality: undefined as number | undefined },
  ]);
  it.each(cases)(
    "adds the packet to a $format file (alpha $alpha) without touching its pixels",
    async ({ format, alpha }) => {
      const encoded = await encode(alpha ? chicky : apple, { format, keepAlpha: alpha });
      const body = withXmp(encoded, aiXmpPacket(PROVENANCE));
      expect(body.length).toBeGreaterThan(encoded.body.length);
      const metadata = await expectAiPacketOnly(body);
      expect(metadata).toMatchObject({
        format: format === "avif" ? "heif" : format,
        width: encoded.width,
        height: encoded.height,
        hasAlpha: (await sharp(encoded.body).metadata()).hasAlpha,
      });
      expect(await pixels(body)).toEqual(await pixels(encoded.body));
    },
  );

  it("writes a lossless VP8L WebP as an extended file that keeps its alpha flag", async () => {
    const lossless = await sharp(chicky.data, { raw: { width: 512, height: 512, channels: 4 } })
      .webp({ lossless: true })
      .toBuffer();
    expect(lossless.toString("latin1", 12, 16)).toBe("VP8L");
    const encoded = { body: lossless, format: "webp", width: 512, height: 512 } as Parameters<
      typeof withXmp
    >[0];
    const body = withXmp(encoded, aiXmpPacket(PROVENANCE));
    expect(body.toString("latin1", 12, 16)).toBe("VP8X");
    expect(body[20]).toBe(0x10 | 0x04); // alpha and XMP
    expect(body.readUInt32LE(4)).toBe(body.length - 8);
    expect((await sharp(body).metadata()).hasAlpha).toBe(true);
    expect(await pixels(body)).toEqual(await pixels(lossless));
  });

  it("escapes what the provenance says, so any model name stays one attribute", async () => {
    const odd = { ...PROVENANCE, generator: 'model "x" <beta> & co' };
    const body = withXmp(await encode(apple, { format: "jpeg" }), aiXmpPacket(odd));
    await expectAiPacketOnly(body, odd);
  });
});

describe("finishExternalImage", () => {
  it.each(OUTPUT_FORMATS)(
    "finishes an AI image as %s with its AI packet and no other metadata",
    async (format) => {
      const finished = await finish(aiAnswer, { format, maxSide: 800 });
      expect(finished.encoded).toMatchObject({ format, width: 800, height: 800 });
      expect(finished.encoded.bytes).toBe(finished.encoded.body.length);
      expect(finished.encoded.size.bytes).toBe(finished.encoded.body.length);
      await expectAiPacketOnly(finished.encoded.body);
      // The report describes the image delivered.
      expect(finished.quality.measurements).toMatchObject({ width: 800, height: 800 });
      expect(finished.milliseconds).toBeGreaterThan(0);
    },
  );

  it.each([
    // The JPEG's normal quality is over 100 KB, so it is searched into the window; the WebP's and the
    // AVIF's fit their budgets at the normal quality, which is then the output.
    ["jpeg", 100, "met", 0.9],
    ["webp", 80, "fits-at-default", 0],
    ["avif", 60, "fits-at-default", 0],
  ] as const)(
    "keeps a %s with its packet within a target of %i KB (%s)",
    async (format, targetKb, outcome, atLeast) => {
      const finished = await finish(aiAnswer, { format, targetKb });
      expect(finished.encoded.bytes).toBeLessThanOrEqual(targetKb * 1024);
      expect(finished.encoded.size).toMatchObject({ targetBytes: targetKb * 1024, outcome });
      expect(finished.encoded.bytes).toBeGreaterThanOrEqual(atLeast * targetKb * 1024);
      await expectAiPacketOnly(finished.encoded.body);
    },
  );

  it.each([
    // At the encoder's floor (50 KB) the packet cannot come off the target. A packet of 4 KB (a long
    // model name) puts these over it: at full size (LadyBird as WebP) and scaled down at the lowest
    // quality (aloeL as JPEG).
    ["LadyBird.jpg", "webp", "quality"],
    ["aloeL.jpg", "jpeg", "scale"],
  ] as const)("keeps %s as %s within the 50 KB floor by stepping its %s down", async (file, format, knob) => {
    const bytes = await readFile(`${CORPUS}${file}`);
    const provenance = { ...PROVENANCE, generator: `model-${"x".repeat(4000)}` };
    const plain = await encode(await decodeMaster(bytes, 1600, MAX_PIXELS), { format, targetKb: 50 });
    expect(plain.bytes + Buffer.byteLength(aiXmpPacket(provenance))).toBeGreaterThan(50 * 1024);
    const finished = await finishExternalImage(bytes, {
      spec: spec({ format, targetKb: 50 }),
      maxPixels: MAX_PIXELS,
      provenance,
    });
    expect(finished.encoded.bytes).toBeLessThanOrEqual(50 * 1024);
    expect(finished.encoded.bytes).toBeGreaterThanOrEqual(0.9 * 50 * 1024);
    if (knob === "quality") {
      expect(finished.encoded.size.quality).toBeLessThan(plain.size.quality as number);
      expect(finished.encoded.size.scale).toBe(1);
    } else {
      expect(finished.encoded.size.quality).toBe(plain.size.quality);
      expect(finished.encoded.size.scale).toBeLessThan(plain.size.scale);
    }
    expect(finished.encoded.size.attempts.length).toBeGreaterThan(plain.size.attempts.length);
    expect(finished.encoded.size.encodes).toBe(finished.encoded.size.attempts.length);
    await expectAiPacketOnly(finished.encoded.body, provenance);
  });

  it("fits the variant's size, and frames STANDARDIZE on the profile's white square", async () => {
    const fitted = await finish(aiAnswer, { maxSide: 500 });
    expect(fitted.encoded).toMatchObject({ width: 500, height: 500 });
    const wide = await sharp(`${CORPUS}LadyBird.jpg`).png().toBuffer();
    const optimized = await finish(wide);
    expect(optimized.encoded).toMatchObject({ width: 1600, height: 1000 }); // OPTIMIZE's 1600 px
    const standard = await finish(wide, { mode: "STANDARDIZE", profile: "shopify" });
    expect(standard.encoded).toMatchObject({ width: 2048, height: 2048 });
    const { data, channels } = await pixels(standard.encoded.body);
    for (const channel of data.subarray(0, channels)) expect(channel).toBeGreaterThanOrEqual(250);
    await expectAiPacketOnly(standard.encoded.body);
  });

  it("applies EXIF orientation and keeps alpha where the format can", async () => {
    const stored = await sharp({ create: { width: 300, height: 100, channels: 3, background: "#00f" } })
      .composite([
        { input: { create: { width: 150, height: 100, channels: 3, background: "#f00" } }, left: 0, top: 0 },
      ])
      .jpeg()
      .withMetadata({ orientation: 6 })
      .toBuffer();
    const turned = await finish(stored);
    expect(turned.encoded).toMatchObject({ width: 100, height: 300 });
    expect((await sharp(turned.encoded.body).metadata()).orientation).toBeUndefined();
    const [red = 0, , blue = 255] = (await pixels(turned.encoded.body)).data.subarray(
      (20 * 100 + 50) * 3,
      (20 * 100 + 50) * 3 + 3,
    );
    expect(red).toBeGreaterThan(200);
    expect(blue).toBeLessThan(50);

    const transparent = await sharp(`${CORPUS}chicky_512.png`).toBuffer();
    expect(
      (await sharp((await finish(transparent, { format: "png" })).encoded.body).metadata()).hasAlpha,
    ).toBe(true);
    expect(
      (await sharp((await finish(transparent, { format: "jpeg" })).encoded.body).metadata()).hasAlpha,
    ).toBe(false);
  });

  const flat = (width: number, height: number, background: string, channels: 3 | 4 = 3) =>
    sharp({ create: { width, height, channels, background } });

  /** A mid-grey frame with seeded noise of about `sigma` levels. */
  const noisyGrey = async (sigma: number) => {
    let seed = 7;
    const uniform = () => {
      seed = (seed * 1664525 + 1013904223) % 4294967296;
      return seed / 4294967296;
    };
    const data = Buffer.alloc(512 * 512 * 3);
    for (let i = 0; i < data.length; i += 3) {
      const value = Math.round(128 + (uniform() + uniform() + uniform() - 1.5) * 2 * sigma);
      data.fill(value, i, i + 3);
    }
    return sharp(data, { raw: { width: 512, height: 512, channels: 3 } })
      .png()
      .toBuffer();
  };

  it.each([
    [
      "text",
      async () => Buffer.from("I cannot make that image."),
      "NOT_AN_IMAGE",
      "the file is a text file, not a JPEG, PNG, WebP, AVIF, TIFF or GIF image",
    ],
    [
      "too many pixels",
      () => flat(3000, 2000, "#808080").png().toBuffer(),
      "TOO_MANY_PIXELS",
      "the photo is 3000×2000 px (6 MP); the limit is 4 MP",
    ],
    [
      "a 48 px square",
      () => flat(48, 48, "#808080").png().toBuffer(),
      "TOO_SMALL",
      `the image is 48×48 px; at least ${EXTERNAL_IMAGE_LIMITS.minSide} px is needed on each side`,
    ],
    [
      "a cut-off JPEG",
      async () => (await readFile(`${CORPUS}apple.jpg`)).subarray(0, 4000),
      "CORRUPT",
      "the JPEG file is truncated or corrupt and cannot be decoded",
    ],
    [
      "one flat colour",
      () => flat(1024, 1024, "#3366aa").jpeg().toBuffer(),
      "BLANK",
      "the image is blank: one flat colour (luminance varies by 0.0 levels; at least 2 is needed)",
    ],
    [
      "white",
      () => flat(1024, 1024, "#ffffff").png().toBuffer(),
      "BLANK",
      /^the image is blank: one flat colour/,
    ],
    [
      "fully transparent",
      () => flat(1024, 1024, "#00000000", 4).png().toBuffer(),
      "BLANK",
      /^the image is blank: one flat colour/,
    ],
    ["grey with faint noise (σ 1)", () => noisyGrey(1), "BLANK", /^the image is blank: one flat colour/],
  ] as const)("refuses %s with a reason in words", async (_, make, problem, message) => {
    const finishing = finish(await make(), {}, 4_000_000);
    await expect(finishing).rejects.toThrow(ImageError);
    await expect(finishing).rejects.toMatchObject({
      problem,
      message: typeof message === "string" ? message : expect.stringMatching(message),
    });
  });

  it("finishes every corpus photo: none is near the blank threshold", async () => {
    const files = (await readdir(CORPUS)).filter((file) => /\.(jpe?g|png)$/i.test(file)).sort();
    const spreads: string[] = [];
    for (const file of files) {
      const finished = await finish(await readFile(`${CORPUS}${file}`), { maxSide: 512 });
      const spread = finished.quality.measurements.luminanceStdDev;
      spreads.push(`${file} ${spread}`);
      expect(spread, file).toBeGreaterThan(5 * EXTERNAL_IMAGE_LIMITS.blankLumaStdDev);
    }
    console.log(`luminance standard deviation of the corpus: ${spreads.join(", ")}`);
  });

  it("finishes what is nearly flat but not blank: faint noise of σ 4, a small dark speck on white", async () => {
    expect((await finish(await noisyGrey(4))).quality.measurements.luminanceStdDev).toBeGreaterThan(2);
    const speck = await flat(1024, 1024, "#ffffff")
      .composite([
        {
          input: { create: { width: 20, height: 20, channels: 3, background: "#202020" } },
          left: 500,
          top: 500,
        },
      ])
      .png()
      .toBuffer();
    expect((await finish(speck)).encoded.width).toBe(1024);
  });
});
