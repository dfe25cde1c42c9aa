/**
 * The engine's own throughput, for `npm run burst` to set beside the pipeline's: every photo of DIR
 * through `renderImage` (the worker's one engine call) with the default variant set, LANES photos at
 * a time as the local worker's lanes take them, after one untimed photo that warms libvips up. Run in
 * a process of its own, with the worker's malloc settings, so it shares nothing with the burst's client.
 * Prints one JSON line: photos, seconds, photos per minute.
 *
 *   node bench/engine-throughput.ts DIR LANES
 */
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { renderImage } from "../lambdas/engine/index.ts";
import { DEFAULT_VARIANT_SET } from "../lambdas/engine/variant-spec.ts";

/** The worker's default MAX_INPUT_PIXELS. */
const MAX_PIXELS = 100_000_000;

const [folder, lanesArgument] = process.argv.slice(2);
const lanes = Number(lanesArgument);
if (!folder || !Number.isInteger(lanes) || lanes < 1)
  throw new Error("usage: node bench/engine-throughput.ts DIR LANES");
const photos = await Promise.all((await readdir(folder)).sort().map((name) => readFile(join(folder, name))));
if (photos.length === 0) throw new Error(`no photos in ${folder}`);
const request = { variants: DEFAULT_VARIANT_SET, maxPixels: MAX_PIXELS };
await renderImage(photos[0] as Buffer, request);

const started = performance.now();
let next = 0;
await Promise.all(
  Array.from({ length: Math.min(lanes, photos.length) }, async () => {
    while (next < photos.length) await renderImage(photos[next++] as Buffer, request);
  }),
);
const seconds = (performance.now() - started) / 1000;
process.stdout.write(
  `${JSON.stringify({ photos: photos.length, lanes, seconds, photosPerMinute: (60 * photos.length) / seconds })}\n`,
);
