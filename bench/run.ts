/**
 * `npm run bench [-- FOLDER] [--json FILE]`: the engine against its floor and its peers, photo by photo,
 * then the folder's median and worst of every ratio against the targets, and the fixed per-photo costs.
 * Every contender runs in a fresh child process (bench/measure.ts), one after another, never two at once.
 * A measurement, never a test: a missed target is reported, not failed; an error fails the run.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { accessSync, closeSync, constants, openSync, readdirSync, readSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus, loadavg, totalmem } from "node:os";
import { basename, delimiter, dirname, extname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import sharp from "sharp";
import { WORKER_PROCESS_ENV } from "../lambdas/names.ts";
import type { EngineOutput, Measurement, Settings } from "./measure.ts";
import { median } from "./median.ts";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const measureScript = join(root, "bench", "measure.ts");
/** Whose outputs the summary lists (the first photo when the folder lacks it). */
const TARGET_PHOTO = "elephants-3840x2160.jpg";
/**
 * Processes per contender and photo. Contenders take turns round by round (engine, floor, naive, …,
 * then again), because a shared host's speed drifts by 10–20% within a minute, as much as the ratios
 * measure; three rounds of three runs put nine runs behind each median.
 */
const ROUNDS = 3;
const IMAGE_EXTENSIONS = new Set([".jpg", ".jpeg", ".png", ".webp", ".avif", ".tif", ".tiff", ".gif"]);

const args = process.argv.slice(2);
const jsonAt = args.indexOf("--json");
const jsonFile = jsonAt >= 0 ? args[jsonAt + 1] : undefined;
if (jsonAt >= 0 && !jsonFile) throw new Error("--json needs a FILE");
const positional = args.filter((_, index) => jsonAt < 0 || (index !== jsonAt && index !== jsonAt + 1));
// npm runs scripts from the repo root; INIT_CWD is where `npm run bench` was typed, which paths are relative to.
const cwd = process.env.INIT_CWD ?? process.cwd();
const folder = positional[0] ? resolve(cwd, positional[0]) : join(root, "..", "shared", "corpus");

/**
 * The first executable on PATH of these names that really is the tool: `convert` may be a stand-in
 * (a script) that only shows PNGs, and a wrapper script would add its interpreter's start to every time.
 */
const findTool = (
  names: string[],
  versionArgs: string[],
  mark: string,
): { path: string; version: string } | undefined => {
  for (const name of names) {
    for (const directory of (process.env.PATH ?? "").split(delimiter)) {
      const path = join(directory, name);
      try {
        accessSync(path, constants.X_OK);
      } catch {
        continue;
      }
      const start = Buffer.alloc(2);
      const descriptor = openSync(path, "r");
      readSync(descriptor, start, 0, 2, 0);
      closeSync(descriptor);
      if (start.toString() === "#!") continue;
      const result = spawnSync(path, versionArgs, { encoding: "utf8" });
      const version = `${result.stdout}${result.stderr}`.split("\n").find((line) => line.includes(mark));
      if (result.status === 0 && version) return { path, version: version.trim() };
    }
  }
  return undefined;
};

const imagemagick = findTool(["magick", "convert"], ["-version"], "ImageMagick");
const vipsthumbnail = findTool(["vipsthumbnail"], ["--vips-version"], "libvips");

/** Spawns measure.ts for one contender and photo; its stderr comes back in the error if it fails. */
const measure = (contender: string, file: string, runs: number, settings: Settings = {}): Measurement => {
  try {
    const stdout = execFileSync(
      process.execPath,
      [measureScript, contender, file, String(runs), JSON.stringify(settings)],
      {
        encoding: "utf8",
        stdio: ["ignore", "pipe", "pipe"],
        maxBuffer: 16 * 1024 * 1024,
        // As the worker runs in Lambda and under `npm start` (see WORKER_PROCESS_ENV).
        env: { ...process.env, ...WORKER_PROCESS_ENV },
      },
    );
    return JSON.parse(stdout.trim().split("\n").at(-1) as string) as Measurement;
  } catch (error) {
    // The child's own stderr is the useful part; the wrapping error would repeat it three times.
    const stderr = (error as { stderr?: string }).stderr || String(error);
    throw new Error(`${contender} on ${basename(file)} failed:\n${stderr}`);
  }
};

const photos = readdirSync(folder)
  .filter((name) => IMAGE_EXTENSIONS.has(extname(name).toLowerCase()))
  .sort();
if (photos.length === 0) throw new Error(`no photos in ${folder}`);

// Times are only as good as the machine is idle: say how busy it was, before and after.
const load = () => loadavg()[0]?.toFixed(2) ?? "?";
console.log(`Pixel Lab bench: ${photos.length} photos in ${folder}`);
console.log(
  `machine   ${availableParallelism()} cores (${cpus()[0]?.model ?? "unknown CPU"}), ${(totalmem() / 2 ** 30).toFixed(1)} GB, Node ${process.version}, load average ${load()}`,
);
// sharp drops to 1 thread on glibc without jemalloc (against fragmentation) unless MALLOC_ARENA_MAX is
// set, so the figure that matters is the measured children's, not this process's.
const childConcurrency = execFileSync(
  process.execPath,
  [
    "--input-type=module",
    "-e",
    "const { default: sharp } = await import('sharp'); console.log(sharp.concurrency());",
  ],
  { encoding: "utf8", env: { ...process.env, ...WORKER_PROCESS_ENV } },
).trim();
console.log(
  `sharp     ${sharp.versions.sharp}, libvips ${sharp.versions.vips}; sharp.concurrency() ${childConcurrency} libvips threads per image ` +
    `(MALLOC_ARENA_MAX ${WORKER_PROCESS_ENV.MALLOC_ARENA_MAX} in every measured child), ` +
    `UV_THREADPOOL_SIZE ${process.env.UV_THREADPOOL_SIZE ?? "4 (default)"}; engine variants run concurrently (Promise.all)`,
);
console.log(
  `magick    ${imagemagick ? `${imagemagick.path}: ${imagemagick.version}` : "ImageMagick: not installed, skipped"}`,
);
console.log(
  `vips      ${vipsthumbnail ? `${vipsthumbnail.path}: ${vipsthumbnail.version}` : "vipsthumbnail: not installed, skipped"}`,
);
console.log(
  `runs      ${ROUNDS} rounds × 3 runs per contender (× 1 run above 15 MP; AVIF once), median of them all; in each round every\n` +
    "          contender runs in a fresh process, warmed up on a tiny JPEG, one after another, so a shared host's changing speed\n" +
    "          weighs on all alike; ImageMagick and vipsthumbnail times include starting their process\n",
);

const COLUMNS = [
  "engine",
  "floor",
  "recipe",
  "naive",
  "imagemagick",
  "vipsthumb",
  "stdTurbo",
  "avif e2",
] as const;
const cell = (m: Measurement | null) =>
  m ? `${m.wallMs.toFixed(0)}/${m.cpuMs.toFixed(0)} ${(m.bytes / 1024).toFixed(0)}K` : "—";
const row = (photo: string, mp: string, cells: string[], rss: string) =>
  `${photo.padEnd(24)} ${mp.padStart(5)} ${cells.map((text) => text.padStart(17)).join("")} ${rss.padStart(6)}`;
console.log("wall ms / CPU ms, output KB (median); RSS = the engine child's peak RSS in MB");
console.log(row("photo", "MP", [...COLUMNS], "RSS"));

interface PhotoResult {
  photo: string;
  megapixels: number;
  engine: Measurement;
  floor: Measurement;
  recipe: Measurement;
  naive: Measurement;
  imagemagick: Measurement | null;
  vipsthumbnail: Measurement | null;
  standardTurbo: Measurement;
  avif: Measurement;
}

/** One contender's processes of every round as one measurement: medians of all runs, the highest RSS. */
const merged = (measurements: Measurement[]): Measurement => {
  const [first] = measurements as [Measurement];
  const wallsMs = measurements.flatMap((measurement) => measurement.wallsMs);
  const cpusMs = measurements.flatMap((measurement) => measurement.cpusMs);
  const rss = (pick: (measurement: Measurement) => number | null) =>
    first.peakRssMb === null ? null : Math.max(...measurements.map((measurement) => pick(measurement) ?? 0));
  return {
    ...first,
    wallMs: median(wallsMs),
    cpuMs: median(cpusMs),
    runs: wallsMs.length,
    wallsMs,
    cpusMs,
    peakRssMb: rss((measurement) => measurement.peakRssMb),
    firstRunRssMb: rss((measurement) => measurement.firstRunRssMb),
  };
};

const results: PhotoResult[] = [];
for (const photo of photos) {
  const file = join(folder, photo);
  const { width = 0, height = 0 } = await sharp(file).metadata();
  const megapixels = (width * height) / 1e6;
  const runs = megapixels > 15 ? 1 : 3;
  const rounds = {
    engine: [] as Measurement[],
    floor: [] as Measurement[],
    recipe: [] as Measurement[],
    naive: [] as Measurement[],
    imagemagick: [] as Measurement[],
    vipsthumbnail: [] as Measurement[],
    standardTurbo: [] as Measurement[],
  };
  for (let round = 0; round < ROUNDS; round += 1) {
    rounds.engine.push(measure("engine", file, runs));
    rounds.floor.push(measure("floor", file, runs));
    rounds.recipe.push(measure("recipe", file, runs));
    rounds.naive.push(measure("naive", file, runs));
    // ImageMagick makes its outputs at the qualities the engine's encodes ended on.
    if (imagemagick) {
      const outputs = rounds.engine[0]?.outputs ?? [];
      rounds.imagemagick.push(measure("imagemagick", file, runs, { tool: imagemagick.path, outputs }));
    }
    if (vipsthumbnail)
      rounds.vipsthumbnail.push(measure("vipsthumbnail", file, runs, { tool: vipsthumbnail.path }));
    rounds.standardTurbo.push(measure("standardTurbo", file, runs));
  }
  const engine = merged(rounds.engine);
  const result: PhotoResult = {
    photo,
    megapixels,
    engine,
    floor: merged(rounds.floor),
    recipe: merged(rounds.recipe),
    naive: merged(rounds.naive),
    imagemagick: imagemagick ? merged(rounds.imagemagick) : null,
    vipsthumbnail: vipsthumbnail ? merged(rounds.vipsthumbnail) : null,
    standardTurbo: merged(rounds.standardTurbo),
    // One encode, as the column says: at effort 2 it takes seconds, and it is an extra, not a target.
    avif: measure("avif", file, 1),
  };
  results.push(result);
  const { floor, recipe, naive, standardTurbo, avif } = result;
  const cells = [
    engine,
    floor,
    recipe,
    naive,
    result.imagemagick,
    result.vipsthumbnail,
    standardTurbo,
    avif,
  ].map(cell);
  console.log(row(photo, megapixels.toFixed(1), cells, (engine.peakRssMb ?? 0).toFixed(0)));
}

const ratio = (a: number | undefined, b: number | undefined) => (a !== undefined && b ? a / b : undefined);
const ratiosOf = (r: PhotoResult) => ({
  engineOverFloor: ratio(r.engine.wallMs, r.floor.wallMs),
  engineOverRecipe: ratio(r.engine.wallMs, r.recipe.wallMs),
  recipeOverFloor: ratio(r.recipe.wallMs, r.floor.wallMs),
  naiveCpuOverEngineCpu: ratio(r.naive.cpuMs, r.engine.cpuMs),
  imagemagickOverEngine: ratio(r.imagemagick?.wallMs, r.engine.wallMs),
  imagemagickBytesOverEngine: ratio(r.imagemagick?.bytes, r.engine.bytes),
  turboOverVips: ratio(r.standardTurbo.wallMs, r.vipsthumbnail?.wallMs),
  peakRssMb: r.engine.peakRssMb ?? undefined,
});
const show = (value: number | undefined, digits = 2) => (value === undefined ? "—" : value.toFixed(digits));

/** The variant whose work took longest: with the variants running concurrently, it ends the photo. */
const criticalPath = (r: PhotoResult) =>
  (r.engine.outputs ?? []).reduce<EngineOutput | undefined>(
    (longest, output) => (!longest || output.milliseconds > longest.milliseconds ? output : longest),
    undefined,
  );
const describePath = (output: EngineOutput | undefined) =>
  output
    ? `${output.name} ${output.milliseconds} ms (${output.wholeEncodes} whole + ${output.sampleEncodes} sample encodes, ${output.outcome})`
    : "—";

console.log(
  "\nratios (wall unless named)   engine/floor  naiveCPU/engineCPU  IM/engine  stdTurbo/vips  peak RSS MB   the longest variant",
);
for (const r of results) {
  const q = ratiosOf(r);
  console.log(
    `${r.photo.padEnd(28)} ${show(q.engineOverFloor).padStart(13)} ${show(q.naiveCpuOverEngineCpu).padStart(19)} ` +
      `${show(q.imagemagickOverEngine).padStart(10)} ${show(q.turboOverVips).padStart(14)} ${show(q.peakRssMb, 0).padStart(12)}   ` +
      describePath(criticalPath(r)),
  );
}

console.log(
  "\nfixed per-photo costs of the engine, ms (decode and assessment: of this photo; the rest: of the process)",
);
console.log(
  `${"photo".padEnd(28)} ${"decode".padStart(7)} ${"assess".padStart(7)} ${"tiny photo".padStart(11)} ${"process set-up".padStart(15)}`,
);
for (const r of results) {
  const fixed = r.engine.fixed;
  console.log(
    `${r.photo.padEnd(28)} ${show(fixed?.decodeMs, 0).padStart(7)} ${show(fixed?.assessMs, 0).padStart(7)} ` +
      `${show(fixed?.tinyPhotoMs, 0).padStart(11)} ${show(fixed?.processSetupMs, 0).padStart(15)}`,
  );
}

/** Median and worst of a ratio over the folder's photos (worst: the highest, or the lowest where higher is better). */
const spread = (values: (number | undefined)[], higherIsBetter = false) => {
  const measured = values.filter((value): value is number => value !== undefined);
  if (measured.length === 0) return undefined;
  return {
    median: median(measured),
    worst: higherIsBetter ? Math.min(...measured) : Math.max(...measured),
    photos: measured.length,
  };
};
const all = results.map(ratiosOf);
const RSS_LIMIT_MB = (megapixels: number) => (megapixels <= 12 ? 256 : 400);
const summary = {
  photos: results.length,
  engineOverFloor: spread(all.map((q) => q.engineOverFloor)),
  imagemagickOverEngine: spread(
    all.map((q) => q.imagemagickOverEngine),
    true,
  ),
  imagemagickBytesOverEngine: spread(
    all.map((q) => q.imagemagickBytesOverEngine),
    true,
  ),
  turboOverVips: spread(all.map((q) => q.turboOverVips)),
  peakRssMb: spread(all.map((q) => q.peakRssMb)),
  /** Peak RSS over its limit: 256 MB up to 12 MP, 400 MB above. */
  rssOverLimit: results
    .filter((r) => (r.engine.peakRssMb ?? 0) > RSS_LIMIT_MB(r.megapixels))
    .map((r) => r.photo),
  naiveCpuOverEngineCpu: spread(
    all.map((q) => q.naiveCpuOverEngineCpu),
    true,
  ),
  engineOverRecipe: spread(all.map((q) => q.engineOverRecipe)),
  recipeOverFloor: spread(all.map((q) => q.recipeOverFloor)),
  fixedMs: {
    decode: spread(results.map((r) => r.engine.fixed?.decodeMs)),
    assess: spread(results.map((r) => r.engine.fixed?.assessMs)),
    tinyPhoto: spread(results.map((r) => r.engine.fixed?.tinyPhotoMs)),
    processSetup: spread(results.map((r) => r.engine.fixed?.processSetupMs)),
  },
};

type Spread = ReturnType<typeof spread>;
const verdict = (value: number | undefined, op: "≤" | "≥", limit: number) =>
  value === undefined ? "not measured" : (op === "≤" ? value <= limit : value >= limit) ? "met" : "NOT MET";
const check = (
  name: string,
  of: Spread,
  op: "≤" | "≥",
  medianLimit: number | null,
  worstLimit: number,
  note = "",
) => {
  const targets = `${medianLimit === null ? "" : `median ${op} ${medianLimit}, `}worst ${op} ${worstLimit}`;
  const verdicts = [
    medianLimit === null ? null : verdict(of?.median, op, medianLimit),
    verdict(of?.worst, op, worstLimit),
  ].filter((text) => text !== null);
  console.log(
    `  ${name.padEnd(32)} ${show(of?.median).padStart(7)} ${show(of?.worst).padStart(7)}   ${targets.padEnd(30)} ${verdicts.join(" / ")}${note ? `  ${note}` : ""}`,
  );
};

console.log(
  `\nfolder summary over ${results.length} photos            median   worst   target                         verdict`,
);
check("engine / floor (wall)", summary.engineOverFloor, "≤", 1.3, 1.6);
check(
  "ImageMagick / engine (wall)",
  summary.imagemagickOverEngine,
  "≥",
  1.5,
  1.0,
  imagemagick ? "" : "(ImageMagick not installed: skipped)",
);
check(
  "ImageMagick bytes / engine bytes",
  summary.imagemagickBytesOverEngine,
  "≥",
  null,
  1.0,
  imagemagick ? "(the engine's outputs no larger in total)" : "(ImageMagick not installed: skipped)",
);
check(
  "stdTurbo / vipsthumbnail (wall)",
  summary.turboOverVips,
  "≤",
  null,
  1.1,
  vipsthumbnail ? "" : "(vipsthumbnail not installed: skipped)",
);
console.log(
  `  ${"engine peak RSS (MB)".padEnd(32)} ${show(summary.peakRssMb?.median, 0).padStart(7)} ${show(summary.peakRssMb?.worst, 0).padStart(7)}   ${"≤ 256 to 12 MP, ≤ 400 above".padEnd(30)} ` +
    (summary.rssOverLimit.length === 0 ? "met" : `NOT MET on ${summary.rssOverLimit.join(", ")}`),
);
console.log(
  `  ${"naive CPU / engine CPU".padEnd(32)} ${show(summary.naiveCpuOverEngineCpu?.median).padStart(7)} ${show(summary.naiveCpuOverEngineCpu?.worst).padStart(7)}   ` +
    "information, not a target: where shrink-on-load makes decoding cheap, decoding once saves little",
);
console.log(
  `  ${"recipe / floor (wall)".padEnd(32)} ${show(summary.recipeOverFloor?.median).padStart(7)} ${show(summary.recipeOverFloor?.worst).padStart(7)}   ` +
    "information: the modes' own pixel work (AUTO's corrections, STANDARDIZE's framing) over bare encodes",
);
console.log(
  `  ${"engine / recipe (wall)".padEnd(32)} ${show(summary.engineOverRecipe?.median).padStart(7)} ${show(summary.engineOverRecipe?.worst).padStart(7)}   ` +
    "information: the engine's own overhead (outputs' assessments, hashes, target search)",
);
const fixed = summary.fixedMs;
console.log(
  `  fixed per photo, ms (median / worst): decode ${show(fixed.decode?.median, 0)} / ${show(fixed.decode?.worst, 0)}, ` +
    `assessment and hashes ${show(fixed.assess?.median, 0)} / ${show(fixed.assess?.worst, 0)}, ` +
    `the default set on a tiny photo ${show(fixed.tinyPhoto?.median, 0)} / ${show(fixed.tinyPhoto?.worst, 0)}, ` +
    `process set-up ${show(fixed.processSetup?.median, 0)} / ${show(fixed.processSetup?.worst, 0)}`,
);
const misses = results.filter((r) => (ratiosOf(r).engineOverFloor ?? 0) > 1.3);
for (const r of misses) {
  console.log(
    `  ${r.photo}: engine/floor ${show(ratiosOf(r).engineOverFloor)}, the longest variant ${describePath(criticalPath(r))}`,
  );
}
const outputs = (results.find((r) => r.photo === TARGET_PHOTO) ?? results[0])?.engine.outputs ?? [];
console.log(
  `  engine outputs of ${(results.find((r) => r.photo === TARGET_PHOTO) ?? results[0])?.photo} (the floor re-encodes these): ` +
    outputs
      .map(
        (o) =>
          `${o.name} ${o.width}×${o.height} ${o.format} q${o.quality ?? "lossless"} ${(o.bytes / 1024).toFixed(0)}K`,
      )
      .join(", "),
);

// The AI step beside the sharp one, against the fake Gemini with a fixed latency, in a process of its own.
const aiLatencyMs = 1000;
console.log("");
const aiStep = spawnSync(
  process.execPath,
  [join(root, "bench", "ai-step.ts"), folder, "--latency", String(aiLatencyMs)],
  {
    encoding: "utf8",
    env: { ...process.env, ...WORKER_PROCESS_ENV },
  },
);
if (aiStep.status !== 0) throw new Error(`the AI step's measurement failed:\n${aiStep.stderr}`);
process.stdout.write(aiStep.stdout);

console.log(
  `\nload average at the end ${load()} on ${availableParallelism()} cores (above the core count, other work shared the CPU)`,
);

if (jsonFile) {
  const round = (value: number | null | undefined) =>
    value === null || value === undefined ? null : Math.round(value * 10) / 10;
  const lines = results.map((r) =>
    JSON.stringify({
      photo: r.photo,
      engineMs: round(r.engine.wallMs),
      engineCpuMs: round(r.engine.cpuMs),
      floorMs: round(r.floor.wallMs),
      recipeMs: round(r.recipe.wallMs),
      naiveMs: round(r.naive.wallMs),
      naiveCpuMs: round(r.naive.cpuMs),
      imagemagickMs: round(r.imagemagick?.wallMs),
      vipsthumbnailMs: round(r.vipsthumbnail?.wallMs),
      standardTurboMs: round(r.standardTurbo.wallMs),
      peakRssMb: round(r.engine.peakRssMb),
      megapixels: round(r.megapixels),
      engineBytes: r.engine.bytes,
      imagemagickBytes: r.imagemagick?.bytes ?? null,
      engineOverFloor: ratiosOf(r).engineOverFloor ?? null,
      longestVariant: criticalPath(r) ?? null,
      fixedMs: r.engine.fixed ?? null,
      outputs: r.engine.outputs ?? [],
    }),
  );
  // The folder's summary is the last line.
  lines.push(JSON.stringify({ summary }));
  writeFileSync(resolve(cwd, jsonFile), `${lines.join("\n")}\n`);
  console.log(`\nwrote ${results.length} photo lines and the summary line to ${resolve(cwd, jsonFile)}`);
}
