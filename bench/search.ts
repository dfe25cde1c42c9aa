/**
 * `npm run bench:search [-- FOLDER] [--quality Q] [--json FILE]`: how many whole encodes the target-size search takes,
 * and why a search takes more than two. Every photo of the folder is decoded as the worker decodes it
 * and fitted inside 1600 px (what the `web` variant encodes), then searched for each target of
 * TARGETS_KB in JPEG and WebP, at each format's normal quality (or `--quality`, the search's ceiling:
 * 95 searches as the engine did before a target became a budget). It counts encodes, not milliseconds: the counts are the same on a busy
 * machine as on a quiet one, so this is where the search is judged; `npm run bench` times it.
 */
import { readdirSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { dirname, extname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { decodeMaster } from "../lambdas/engine/decode.ts";
import { ENCODE_DEFAULTS, type Encoded, encode } from "../lambdas/engine/encode.ts";
import { fitInside, RECIPES } from "../lambdas/engine/modes.ts";
import type { RawImage } from "../lambdas/engine/raw-image.ts";

const TARGETS_KB = [50, 100, 200, 300, 500] as const;
const FORMATS = ["jpeg", "webp"] as const;
const MAX_PIXELS = 100_000_000;
const IMAGE_EXTENSIONS = new Set([".jpg", ".jpeg", ".png", ".webp", ".avif", ".tif", ".tiff", ".gif"]);

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const { values, positionals: positional } = parseArgs({
  options: { json: { type: "string" }, quality: { type: "string" } },
  allowPositionals: true,
});
const jsonFile = values.json;
const quality = values.quality === undefined ? undefined : Number(values.quality);
if (quality !== undefined && !(Number.isInteger(quality) && quality >= 1 && quality <= 100))
  throw new Error(`--quality must be an integer 1–100, got ${values.quality}`);
const cwd = process.env.INIT_CWD ?? process.cwd();
const folder = positional[0] ? resolve(cwd, positional[0]) : join(root, "..", "shared", "corpus");

export interface SearchRecord {
  photo: string;
  width: number;
  height: number;
  format: (typeof FORMATS)[number];
  targetKb: number;
  outcome: string;
  quality: number | null;
  bytes: number;
  wholeEncodes: number;
  sampleEncodes: number;
  /** Whole encodes of a resized copy: the scale search, or crossing a quality step. */
  scaledEncodes: number;
  /** Why the search took more than two whole encodes (or a scaled one); null when it did not. */
  reason: string | null;
}

/** Names what made a search long, from what its attempts show. */
const reasonOf = (encoded: Encoded, sampled: boolean): string | null => {
  const { size } = encoded;
  const whole = size.attempts.filter((attempt) => attempt.sample === undefined);
  const scaled = whole.filter((attempt) => attempt.scale < 1).length;
  if (whole.length <= 2 && scaled === 0) return null;
  if (size.outcome === "scaled-down") return "scale search (the quality floor is over the target)";
  if (scaled > 0) return "crossing a quality step at a smaller size";
  if (!sampled) return "no stripe sample (image too short): searched on whole encodes";
  if (size.outcome === "below-window") return "a quality step jumps the window";
  return "the sample's prediction missed the window twice";
};

const photos = readdirSync(folder)
  .filter((name) => IMAGE_EXTENSIONS.has(extname(name).toLowerCase()))
  .sort();
if (photos.length === 0) throw new Error(`no photos in ${folder}`);

const images = new Map<string, RawImage>();
for (const photo of photos) {
  const master = await decodeMaster(await readFile(join(folder, photo)), 2000, MAX_PIXELS);
  images.set(photo, await fitInside(master, RECIPES.optimize.maxSide));
}

const jobs = photos.flatMap((photo) =>
  FORMATS.flatMap((format) => TARGETS_KB.map((targetKb) => ({ photo, format, targetKb }))),
);
const records: SearchRecord[] = [];
const queue = [...jobs];
// One search per core: the counts do not depend on it, the wait does.
await Promise.all(
  Array.from({ length: Math.max(1, availableParallelism()) }, async () => {
    for (let job = queue.shift(); job; job = queue.shift()) {
      const image = images.get(job.photo) as RawImage;
      const encoded = await encode(image, {
        format: job.format,
        targetKb: job.targetKb,
        ...(quality === undefined ? {} : { quality }),
      });
      const whole = encoded.size.attempts.filter((attempt) => attempt.sample === undefined);
      const sampled =
        Math.floor(image.height / ENCODE_DEFAULTS.search.sampleRowsPerStripe) >=
        ENCODE_DEFAULTS.search.sampleMinStripes;
      records.push({
        ...job,
        width: image.width,
        height: image.height,
        outcome: encoded.size.outcome,
        quality: encoded.size.quality,
        bytes: encoded.bytes,
        wholeEncodes: whole.length,
        sampleEncodes: encoded.size.sampleEncodes,
        scaledEncodes: whole.filter((attempt) => attempt.scale < 1).length,
        reason: reasonOf(encoded, sampled),
      });
    }
  }),
);
records.sort(
  (a, b) => a.photo.localeCompare(b.photo) || a.format.localeCompare(b.format) || a.targetKb - b.targetKb,
);

const count = <T>(items: T[], key: (item: T) => string): Map<string, number> => {
  const counts = new Map<string, number>();
  for (const item of items) counts.set(key(item), (counts.get(key(item)) ?? 0) + 1);
  return counts;
};

console.log(
  `target-size search: ${photos.length} photos in ${folder}, fitted inside ${RECIPES.optimize.maxSide} px, ` +
    `${FORMATS.join("/")} at ${TARGETS_KB.join(", ")} KB, ceiling ${quality === undefined ? "the normal quality" : `q${quality}`} (${records.length} searches)\n`,
);
const maxWhole = Math.max(...records.map((record) => record.wholeEncodes));
console.log("whole encodes per search (sample encodes not counted)");
console.log(
  `${"".padEnd(8)}${Array.from({ length: maxWhole + 1 }, (_, n) => String(n).padStart(6)).join("")}   mean`,
);
for (const format of [...FORMATS, "all"] as const) {
  const of = records.filter((record) => format === "all" || record.format === format);
  const histogram = count(of, (record) => String(record.wholeEncodes));
  const mean = of.reduce((sum, record) => sum + record.wholeEncodes, 0) / of.length;
  console.log(
    `${format.padEnd(8)}${Array.from({ length: maxWhole + 1 }, (_, n) => String(histogram.get(String(n)) ?? 0).padStart(6)).join("")}   ${mean.toFixed(2)}`,
  );
}
const sampleMean = records.reduce((sum, record) => sum + record.sampleEncodes, 0) / records.length;
console.log(
  `sample encodes per search: mean ${sampleMean.toFixed(2)}, most ${Math.max(...records.map((r) => r.sampleEncodes))}`,
);

console.log("\noutcomes");
for (const [outcome, n] of count(records, (record) => record.outcome))
  console.log(`  ${outcome.padEnd(22)} ${n}`);

const long = records.filter((record) => record.reason !== null);
console.log(
  `\nsearches with more than two whole encodes or a scaled one: ${long.length} of ${records.length}`,
);
for (const [reason, n] of count(long, (record) => record.reason as string))
  console.log(`  ${String(n).padStart(4)}  ${reason}`);
for (const record of long) {
  console.log(
    `    ${record.photo.padEnd(26)} ${record.width}×${record.height} ${record.format.padEnd(5)} ${String(record.targetKb).padStart(4)} KB: ` +
      `${record.wholeEncodes} whole (${record.scaledEncodes} scaled) + ${record.sampleEncodes} sample, ${record.outcome} q${record.quality}`,
  );
}

const totalKb = (format: string) =>
  records.filter((record) => record.format === format).reduce((sum, record) => sum + record.bytes, 0) / 1024;
console.log(
  `\noutput bytes: ${FORMATS.map((format) => `${format} ${totalKb(format).toFixed(0)} KB`).join(", ")}`,
);

if (jsonFile) {
  writeFileSync(resolve(cwd, jsonFile), `${records.map((record) => JSON.stringify(record)).join("\n")}\n`);
  console.log(`wrote ${records.length} JSON lines to ${resolve(cwd, jsonFile)}`);
}
