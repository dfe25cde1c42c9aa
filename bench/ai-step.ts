/**
 * The AI step's cost in time, beside the sharp step's, over a folder of photos (`npm run bench` runs it last;
 * `node bench/ai-step.ts [FOLDER] [--latency MS]` alone). Gemini is the local fake with a fixed latency per
 * answer, so the figures are this pipeline's own work plus a stated wait, never the network's weather.
 *
 * The AI step runs as a message of its own after the sharp variants took the product to review, so it adds
 * nothing to that path; in AWS it even runs in another invocation. Locally one process does both, so the
 * sharp step is timed alone and again while another photo's AI step runs beside it (finishing and comparing
 * its images takes CPU too): the ratio of the two is what the AI step costs the sharp variants.
 */
import { readdir, readFile } from "node:fs/promises";
import { extname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { createGeminiEditor } from "../lambdas/adapters/gemini.ts";
import { type AiStepDeps, runAiStep } from "../lambdas/domain/ai-step.ts";
import type { AiRecord, AiStepState, ObjectStore, ProductRepository } from "../lambdas/domain/ports.ts";
import { renderImage } from "../lambdas/engine/index.ts";
import { DEFAULT_VARIANT_SET } from "../lambdas/engine/variant-spec.ts";
import { GEMINI_SETTINGS } from "../lambdas/names.ts";
import { startFakeGemini } from "../local/fake-gemini.ts";
import { median } from "./median.ts";

const PHOTO_TYPES = new Set([".jpg", ".jpeg", ".png", ".webp"]);
const MAX_PIXELS = 100_000_000;

/** Just enough of the repository and the store for one photo's AI step, in memory. */
const memoryDeps = (photo: Uint8Array): { repository: ProductRepository; objectStore: ObjectStore } => {
  const records: AiRecord[] = [];
  const state: AiStepState = {
    status: "pending_review",
    lastSequence: 1,
    original: { bucket: "raw", key: "raw/photo" },
    settledVariants: [],
    analysisSettled: false,
  };
  const repository = {
    aiStepState: async () => ({ ...state, settledVariants: [...state.settledVariants] }),
    claimAiStep: async () => true,
    releaseAiStep: async () => undefined,
    recordAi: async (_product: string, _sequence: number, record: AiRecord) => void records.push(record),
    recordAiSkipped: async () => undefined,
  } as unknown as ProductRepository;
  const objectStore = {
    get: async () => photo,
    put: async () => undefined,
  } as unknown as ObjectStore;
  return { repository, objectStore };
};

export interface AiStepMeasurement {
  photos: number;
  latencyMs: number;
  sharpMs: { median: number; worst: number };
  sharpBesideAiStepMs: { median: number; worst: number };
  aiStepMs: { median: number; worst: number };
  /** The AI step's wall time over the fake's latency: what this code adds around the calls. */
  aiOverheadMs: { median: number; worst: number };
}

const summary = (values: number[]) => ({
  median: Math.round(median(values)),
  worst: Math.round(Math.max(...values)),
});

export const measureAiStep = async (folder: string, latencyMs: number): Promise<AiStepMeasurement> => {
  const names = (await readdir(folder)).filter((name) => PHOTO_TYPES.has(extname(name).toLowerCase())).sort();
  if (names.length === 0) throw new Error(`no photos in ${folder}`);
  const fake = await startFakeGemini({ latencyMs });
  const editor = createGeminiEditor({
    apiKey: "bench",
    baseUrl: fake.url,
    analysisModel: GEMINI_SETTINGS.analysisModel,
    imageModel: GEMINI_SETTINGS.imageModel,
    callTimeoutMs: GEMINI_SETTINGS.callTimeoutMs,
  });
  const sharpAlone: number[] = [];
  const sharpBeside: number[] = [];
  const ai: number[] = [];
  const settings = {
    variants: DEFAULT_VARIANT_SET,
    rawBucket: "raw",
    enhancedBucket: "enhanced",
    maxUploadBytes: 25 * 1024 * 1024,
    maxInputPixels: MAX_PIXELS,
    assetsBaseUrl: "https://cdn.example.test",
    rawRetentionDays: 30,
  };
  const aiStepOf = async (name: string, photo: Uint8Array) => {
    const deps: AiStepDeps = {
      ...memoryDeps(photo),
      settings,
      clock: () => new Date(),
      log: { info: () => undefined, warn: () => undefined, error: () => undefined },
      editor: async () => ({ editor }),
      aiSettings: {
        aiVariants: GEMINI_SETTINGS.aiVariants,
        budgetSeconds: GEMINI_SETTINGS.budgetSeconds,
        concurrency: GEMINI_SETTINGS.concurrency,
      },
    };
    const started = performance.now();
    const outcome = await runAiStep(deps, { type: "ai", productId: "bench", sequence: 1 });
    ai.push(performance.now() - started);
    if (outcome.kind !== "ai" || outcome.failed.length > 0) {
      throw new Error(`the AI step failed on ${name}: ${JSON.stringify(outcome)}`);
    }
  };
  const renderTime = async (photo: Uint8Array) => {
    const started = performance.now();
    await renderImage(photo, { variants: DEFAULT_VARIANT_SET, maxPixels: MAX_PIXELS });
    return performance.now() - started;
  };
  try {
    const photos = await Promise.all(
      names.map(async (name) => ({ name, bytes: new Uint8Array(await readFile(join(folder, name))) })),
    );
    // Untimed: the first render of a process loads libvips and warms its caches, which would count against
    // whichever measurement came first.
    if (photos[0]) await renderTime(photos[0].bytes);
    for (const [index, photo] of photos.entries()) {
      sharpAlone.push(await renderTime(photo.bytes));
      // The previous photo's AI step runs while this photo's sharp variants are made, as in a busy worker.
      const previous = photos[(index + photos.length - 1) % photos.length] ?? photo;
      const [beside] = await Promise.all([renderTime(photo.bytes), aiStepOf(previous.name, previous.bytes)]);
      sharpBeside.push(beside);
    }
  } finally {
    await fake.stop();
  }
  // Analysis and the 3 edits run at once (concurrency 3 of 4 calls): two latencies in a row at the least.
  const rounds = Math.ceil((GEMINI_SETTINGS.aiVariants + 1) / GEMINI_SETTINGS.concurrency);
  return {
    photos: names.length,
    latencyMs,
    sharpMs: summary(sharpAlone),
    sharpBesideAiStepMs: summary(sharpBeside),
    aiStepMs: summary(ai),
    aiOverheadMs: summary(ai.map((ms) => ms - rounds * latencyMs)),
  };
};

const isMain = process.argv[1] && resolve(process.argv[1]) === resolve(new URL(import.meta.url).pathname);
if (isMain) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { latency: { type: "string", default: "1000" } },
  });
  const folder = resolve(process.env.INIT_CWD ?? process.cwd(), positionals[0] ?? "../shared/corpus");
  const result = await measureAiStep(folder, Number(values.latency));
  process.stdout.write(
    [
      `AI step over ${result.photos} photos, fake Gemini answering after ${result.latencyMs} ms (median / worst)`,
      `  sharp step alone               ${result.sharpMs.median} / ${result.sharpMs.worst} ms`,
      `  sharp step beside an AI step   ${result.sharpBesideAiStepMs.median} / ${result.sharpBesideAiStepMs.worst} ms   (median ratio ${(result.sharpBesideAiStepMs.median / result.sharpMs.median).toFixed(2)})`,
      `  AI step, after review began    ${result.aiStepMs.median} / ${result.aiStepMs.worst} ms   (analysis + ${GEMINI_SETTINGS.aiVariants} edits, ${GEMINI_SETTINGS.concurrency} at a time)`,
      `  of which this code, not Gemini ${result.aiOverheadMs.median} / ${result.aiOverheadMs.worst} ms`,
      "",
    ].join("\n"),
  );
}
