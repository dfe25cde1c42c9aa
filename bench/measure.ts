/**
 * Measures one contender on one photo, in a process of its own (bench/run.ts spawns one per contender
 * and photo), so that its peak RSS is its own and no cache or JIT state leaks from another contender.
 * Prints one JSON line: median wall and CPU milliseconds, output bytes, peak RSS, engine outputs.
 *
 *   node bench/measure.ts CONTENDER FILE RUNS [SETTINGS_JSON]
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import { decodeMaster, readHeader } from "../lambdas/engine/decode.ts";
import { encode } from "../lambdas/engine/encode.ts";
import { sniffImageFormat } from "../lambdas/engine/formats.ts";
import { assessBackground, assessQuality } from "../lambdas/engine/quality.ts";
import { fromRaw, type RawImage, toRaw } from "../lambdas/engine/raw-image.ts";
import {
  type EngineResult,
  keepsAlpha,
  masterSideFor,
  renderVariantSet,
  variantPixels,
} from "../lambdas/engine/render.ts";
import { DEFAULT_VARIANT_SET } from "../lambdas/engine/variant-spec.ts";
import { median } from "./median.ts";

/** The worker's default MAX_INPUT_PIXELS. */
const MAX_PIXELS = 100_000_000;
const WHITE = { r: 255, g: 255, b: 255, alpha: 1 };

/** One output of the engine, as its final encode made it: what the floor and ImageMagick reproduce. */
export interface EngineOutput {
  name: string;
  format: "jpeg" | "png" | "webp" | "avif";
  width: number;
  height: number;
  /** The quality the engine's encode (and its target search) ended on; null for lossless PNG. */
  quality: number | null;
  bytes: number;
  /** The variant's own wall time in the engine (its mode, encodes and assessment), in ms. */
  milliseconds: number;
  /** Whole encodes (of the image or a scaled copy) and stripe-sample encodes of its target search. */
  wholeEncodes: number;
  sampleEncodes: number;
  outcome: string;
}

/** What every photo pays whatever its variants: decode, and the master's assessment and hashes. */
export interface FixedCosts {
  decodeMs: number;
  assessMs: number;
  /** The engine on a 96×64 photo in a warm process: the pipeline's own cost per photo. */
  tinyPhotoMs: number;
  /** From the process's start to the contender being ready: Node, sharp and the engine loaded, and a first run on a tiny photo. */
  processSetupMs: number;
}

export interface Settings {
  /** The external tool's executable (imagemagick, vipsthumbnail). */
  tool?: string;
  /** The engine's outputs, from its own child, for ImageMagick's qualities. */
  outputs?: EngineOutput[];
}

export interface Measurement {
  wallMs: number;
  cpuMs: number;
  bytes: number;
  /** maxRSS over the whole child: warm-up and every run (a warm worker's RSS also grows photo after photo). */
  peakRssMb: number | null;
  /** maxRSS once the first timed run is done: about what one photo in a fresh process takes. */
  firstRunRssMb: number | null;
  runs: number;
  /** Every run's wall and CPU milliseconds, for a median across processes (bench/run.ts takes turns). */
  wallsMs: number[];
  cpusMs: number[];
  outputs?: EngineOutput[];
  fixed?: FixedCosts;
}

/** Does the work once and says how many output bytes it made. */
type Work = () => Promise<number>;

// Repeated runs read the same bytes: libvips' operation cache would serve runs 2 and 3 from memory,
// which a real upload (processed once) never gets.
sharp.cache(false);

const [contender, file, runsArgument, settingsArgument] = process.argv.slice(2);
if (!contender || !file || !runsArgument) {
  throw new Error("usage: node bench/measure.ts CONTENDER FILE RUNS [SETTINGS_JSON]");
}
const runs = Number(runsArgument);
const settings: Settings = settingsArgument ? JSON.parse(settingsArgument) : {};

const headerOf = (input: Uint8Array) => {
  const format = sniffImageFormat(input);
  if (!format) throw new Error(`${file} is not an image format the engine takes`);
  return readHeader(input, format, MAX_PIXELS);
};

const outputsOf = (result: EngineResult): EngineOutput[] =>
  result.variants.map((variant) => {
    if (variant.kind !== "rendered")
      throw new Error(`the engine skipped ${variant.spec.name}: ${variant.reason}`);
    const { format, width, height, bytes, size } = variant.encoded;
    return {
      name: variant.spec.name,
      format,
      width,
      height,
      quality: size.quality,
      bytes,
      milliseconds: Math.round(variant.milliseconds),
      wholeEncodes: size.encodes - size.sampleEncodes,
      sampleEncodes: size.sampleEncodes,
      outcome: size.outcome,
    };
  });

const totalBytes = (outputs: { bytes: number }[]) => outputs.reduce((sum, output) => sum + output.bytes, 0);

const runEngine = async (input: Uint8Array) =>
  renderVariantSet(input, await headerOf(input), DEFAULT_VARIANT_SET, MAX_PIXELS);

/**
 * Resizes to exactly the output's dimensions, padding with white where the aspect differs. For the
 * STANDARDIZE square this fills 2000 px of width with photo where the engine fills 1700 (its 85%):
 * the same pixels to encode, slightly more detail, so if anything the floor errs slow.
 */
const atSize = (image: RawImage, width: number, height: number): Promise<RawImage> | RawImage =>
  image.width === width && image.height === height
    ? image
    : toRaw(fromRaw(image).resize({ width, height, fit: "contain", background: WHITE }));

/** The floor: the one decode, then exactly one encode per output at the engine's final size and quality. */
const floor = async (input: Uint8Array, outputs: EngineOutput[]): Promise<number> => {
  const master = await decodeMaster(input, masterSideFor(DEFAULT_VARIANT_SET), MAX_PIXELS);
  const encoded = await Promise.all(
    outputs.map(async (output) =>
      encode(await atSize(master, output.width, output.height), {
        format: output.format,
        ...(output.quality === null ? {} : { quality: output.quality }),
        keepAlpha: output.format !== "jpeg" && master.channels === 4,
      }),
    ),
  );
  return totalBytes(encoded);
};

/**
 * The recipe: the one decode, the master's assessment (AUTO and STANDARDIZE are chosen from it), each
 * variant's mode, and one encode of each at the engine's final quality, the variants concurrently as in
 * the engine. What the engine adds to it is its own overhead: the outputs' assessments and compliance,
 * the hashes, the target-size search.
 */
const recipe = async (input: Uint8Array, outputs: EngineOutput[]): Promise<number> => {
  const master = await decodeMaster(input, masterSideFor(DEFAULT_VARIANT_SET), MAX_PIXELS);
  const [quality, background] = await Promise.all([assessQuality(master), assessBackground(master)]);
  const analysis = Promise.resolve({ quality, background });
  const encoded = await Promise.all(
    DEFAULT_VARIANT_SET.map(async (spec, index) => {
      const output = outputs[index] as EngineOutput;
      const made = await variantPixels(master, spec, analysis);
      if (made.kind === "skipped") return { bytes: 0 };
      const { image } = made;
      return encode(await atSize(image, output.width, output.height), {
        format: output.format,
        ...(output.quality === null ? {} : { quality: output.quality }),
        keepAlpha: keepsAlpha(spec, master) && image.channels === 4,
      });
    }),
  );
  return totalBytes(encoded);
};

/** The README's `standard` recipe in one sharp pipeline, with vipsthumbnail's JPEG settings. */
const standardTurbo = async (input: Uint8Array): Promise<number> => {
  const data = await sharp(input, { limitInputPixels: MAX_PIXELS, failOn: "truncated", pages: 1 })
    .autoOrient()
    .resize({ width: 2000, height: 2000, fit: "inside", withoutEnlargement: true })
    .flatten({ background: WHITE })
    .toColourspace("srgb")
    // libjpeg-turbo as vipsthumbnail uses it: no mozjpeg trellis, no optimised Huffman tables.
    .jpeg({ quality: 85, mozjpeg: false, optimiseCoding: false })
    .toBuffer();
  return data.length;
};

/** User + system CPU of this process's waited-for children, from /proc (clock ticks are 1/100 s on Linux). */
const childrenCpuMs = (): number => {
  const fields = readFileSync("/proc/self/stat", "utf8").split(") ")[1]?.split(" ") ?? [];
  return (Number(fields[13]) + Number(fields[14])) * 10;
};

/** Runs an external tool writing into a fresh directory; the bytes are what it wrote. */
const external =
  (args: (input: string, out: string) => string[]) =>
  (input: string): Work =>
  async () => {
    const out = mkdtempSync(join(scratch, "run-"));
    try {
      const result = spawnSync(settings.tool as string, args(input, out), { encoding: "utf8" });
      if (result.error) throw result.error;
      if (result.status !== 0) throw new Error(`${settings.tool} exited ${result.status}: ${result.stderr}`);
      return readdirSync(out).reduce((sum, name) => sum + statSync(join(out, name)).size, 0);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  };

/** The engine's output of that name (its size and final quality), which ImageMagick makes the same. */
const engineOutput = (name: string): EngineOutput => {
  const output = settings.outputs?.find((candidate) => candidate.name === name);
  if (!output) throw new Error(`the engine made no ${name} output to compare ImageMagick with`);
  return output;
};
const quality = (name: string) => String(engineOutput(name).quality ?? 85);
/** WxH with "!": exactly the engine's dimensions, enlarging where the engine enlarged (AUTO's UPSCALE). */
const exactly = (name: string) => `${engineOutput(name).width}x${engineOutput(name).height}!`;

/**
 * The four outputs in one command, each at the engine's own size and quality: decode once, each branch a
 * clone of the decoded image. `standard`: the product at 85% of a white square of the engine's side
 * (STANDARDIZE without the trim); `enhanced`, `web`, `thumb`: resized to the engine's dimensions (no
 * correction or sharpening: what ImageMagick is measured on is the floor's work, in one process).
 */
const imagemagick = external((input, out) => {
  const side = engineOutput("standard").width;
  const product = Math.round(0.85 * side);
  return [
    input,
    ...["-auto-orient", "-colorspace", "sRGB", "-strip"],
    ...["(", "+clone", "-resize", `${product}x${product}`, "-background", "white", "-alpha", "remove"],
    ...["-alpha", "off", "-gravity", "center", "-extent", `${side}x${side}`, "-quality", quality("standard")],
    ...["-write", join(out, "standard.jpg"), "+delete", ")"],
    ...[
      "(",
      "+clone",
      "-resize",
      exactly("enhanced"),
      "-background",
      "white",
      "-alpha",
      "remove",
      "-alpha",
      "off",
    ],
    ...["-quality", quality("enhanced"), "-write", join(out, "enhanced.jpg"), "+delete", ")"],
    ...[
      "(",
      "+clone",
      "-resize",
      exactly("web"),
      "-quality",
      quality("web"),
      "-write",
      join(out, "web.webp"),
    ],
    ...["+delete", ")"],
    ...["-resize", exactly("thumb"), "-quality", quality("thumb"), join(out, "thumb.webp")],
  ];
});

// ">" keeps vipsthumbnail from enlarging small photos, as the standard recipe never does.
const vipsthumbnail = external((input, out) => [
  input,
  "--size",
  "2000x2000>",
  "-o",
  `${join(out, "standard.jpg")}[Q=85,strip]`,
]);

/** Builds the timed work (and its warm-up) for the contender, doing everything untimed first. */
const prepare = async (input: Uint8Array, tiny: Uint8Array): Promise<{ work: Work; warm: Work }> => {
  switch (contender) {
    case "engine": {
      // The header is read before the render, as the worker does (the pixel limit is checked on it).
      const header = await headerOf(input);
      return {
        warm: async () => totalBytes(outputsOf(await runEngine(tiny))),
        work: async () => {
          const result = await renderVariantSet(input, header, DEFAULT_VARIANT_SET, MAX_PIXELS);
          engineOutputs = outputsOf(result);
          engineFixed = { decodeMs: result.decodeMilliseconds, assessMs: result.assessMilliseconds };
          return totalBytes(engineOutputs);
        },
      };
    }
    case "floor": {
      // The engine run done beforehand names each output's final size, format and quality (and warms up).
      const outputs = outputsOf(await runEngine(input));
      engineOutputs = outputs;
      // That run also warmed up the decoder and every encoder: no other warm-up.
      return { warm: async () => 0, work: () => floor(input, outputs) };
    }
    case "recipe": {
      const outputs = outputsOf(await runEngine(input));
      engineOutputs = outputs;
      return { warm: async () => 0, work: () => recipe(input, outputs) };
    }
    case "naive": {
      const header = await headerOf(input);
      // Each variant on its own, from the original file: a decode, assessment and hash apiece.
      const naive = async (bytes: Uint8Array, known = header) =>
        totalBytes(
          (
            await Promise.all(
              DEFAULT_VARIANT_SET.map((spec) => renderVariantSet(bytes, known, [spec], MAX_PIXELS)),
            )
          ).flatMap((result) => outputsOf(result)),
        );
      return { warm: async () => naive(tiny, await headerOf(tiny)), work: () => naive(input) };
    }
    case "standardTurbo":
      return { warm: () => standardTurbo(tiny), work: () => standardTurbo(input) };
    case "avif": {
      // One AVIF encode of the standard size (2000×2000, white-padded) at effort 2; the decode is untimed.
      const master = await decodeMaster(input, masterSideFor(DEFAULT_VARIANT_SET), MAX_PIXELS);
      const square = await toRaw(
        fromRaw(master)
          .flatten({ background: WHITE })
          .resize({ width: 2000, height: 2000, fit: "contain", background: WHITE }),
      );
      const avif = async (image: RawImage) => (await encode(image, { format: "avif", avifEffort: 2 })).bytes;
      return { warm: async () => avif(await toRaw(sharp(tiny))), work: () => avif(square) };
    }
    case "imagemagick":
    case "vipsthumbnail": {
      const tinyFile = join(scratch, "tiny.jpg");
      writeFileSync(tinyFile, tiny);
      const make = contender === "imagemagick" ? imagemagick : vipsthumbnail;
      return { warm: make(tinyFile), work: make(file) };
    }
    default:
      throw new Error(`unknown contender ${contender}`);
  }
};

const input = readFileSync(file);
// A small noisy JPEG: warming up on it loads libvips' decoders, encoders and the JIT without touching the photo.
const tiny = await sharp({
  create: {
    width: 96,
    height: 64,
    channels: 3,
    background: "#808080",
    noise: { type: "gaussian", mean: 128, sigma: 40 },
  },
})
  .jpeg()
  .toBuffer();
const scratch = mkdtempSync(join(tmpdir(), "pixel-lab-bench-"));
// Removed however the child ends: a failing contender must not leave directories behind.
process.on("exit", () => rmSync(scratch, { recursive: true, force: true }));
/** The engine's outputs, when this contender ran the engine on the photo. */
let engineOutputs: EngineOutput[] | undefined;
let engineFixed: Pick<FixedCosts, "decodeMs" | "assessMs"> | undefined;
const { work, warm } = await prepare(input, tiny);
await warm();
const processSetupMs = performance.now();
// The engine's fixed cost per photo, in this warm process: the whole default set on a tiny photo.
let tinyPhotoMs: number | undefined;
if (contender === "engine") {
  const started = performance.now();
  await warm();
  tinyPhotoMs = performance.now() - started;
}

const walls: number[] = [];
const cpus: number[] = [];
let bytes = 0;
let firstRunRssKb = 0;
for (let run = 0; run < runs; run += 1) {
  const cpuBefore = process.cpuUsage();
  const childrenBefore = childrenCpuMs();
  const started = performance.now();
  bytes = await work();
  walls.push(performance.now() - started);
  const cpu = process.cpuUsage(cpuBefore);
  cpus.push((cpu.user + cpu.system) / 1000 + childrenCpuMs() - childrenBefore);
  if (run === 0) firstRunRssKb = process.resourceUsage().maxRSS;
}

const isExternal = contender === "imagemagick" || contender === "vipsthumbnail";
const measurement: Measurement = {
  wallMs: median(walls),
  cpuMs: median(cpus),
  bytes,
  // maxRSS is KB; an external tool's peak is its own process's, which Node cannot see.
  peakRssMb: isExternal ? null : process.resourceUsage().maxRSS / 1024,
  firstRunRssMb: isExternal ? null : firstRunRssKb / 1024,
  runs,
  wallsMs: walls,
  cpusMs: cpus,
  ...(engineOutputs ? { outputs: engineOutputs } : {}),
  ...(engineFixed && tinyPhotoMs !== undefined
    ? { fixed: { ...engineFixed, tinyPhotoMs, processSetupMs } }
    : {}),
};
process.stdout.write(`${JSON.stringify(measurement)}\n`);
