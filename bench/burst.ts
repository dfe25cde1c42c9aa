/**
 * A burst of N photos through the whole local pipeline, over HTTP and the emulator's own protocols only:
 * one bulk create of N products, N presigned POSTs at once, then a wait until every product is
 * `pending_review` or `failed`. Prints the time per photo, how long photos waited in the queue (p50,
 * p95, worst), how long each took once started, re-queues by the reconciler, what is in the DLQ, and
 * any duplicate work; then the same photos through the engine alone, as many at a time as the
 * worker's lanes (bench/engine-throughput.ts), so the pipeline's photos per minute stand beside the
 * engine's own, measured in the same run.
 *
 *   npm run burst                     # N = 100, a local stack of its own on a fresh database
 *   npm run burst -- 500              # the README's figures
 *   npm run burst -- 50 --photos DIR  # photos of yours (each product gets a distinct crop of one)
 *   npm run burst -- 50 --api http://127.0.0.1:3000 --sqs http://127.0.0.1:4566   # a running stack
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { extname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { GetQueueAttributesCommand, GetQueueUrlCommand, SQSClient } from "@aws-sdk/client-sqs";
import sharp from "sharp";
import { createMysqlDb, dropDatabase } from "../lambdas/adapters/database.ts";
import { appDatabaseUser, QUEUES, resourceName, WORKER_PROCESS_ENV } from "../lambdas/names.ts";
import { type ApiTarget, callApi, uploadPhoto } from "../local/client.ts";
import { mintLocalToken } from "../local/identity.ts";
import { startLocalStackProcess } from "../local/stack-process.ts";
import { dropAppUser } from "../schema/app-user.ts";
import { median } from "./median.ts";

const SETTLED = new Set(["pending_review", "failed"]);

export interface BurstOptions {
  /** The API and a seller's token: the burst's products are that seller's. */
  api: ApiTarget;
  /** The emulator's endpoint, where the DLQ's counts are read. */
  sqsEndpoint: string;
  stage: string;
  count: number;
  /** Distinct photos, one per product (see `distinctPhotos`). */
  photos: Buffer[];
  uploadConcurrency: number;
  timeoutMs: number;
  /** Progress lines go here. */
  progress?: (line: string) => void;
}

export interface BurstReport {
  count: number;
  wallSeconds: number;
  secondsPerPhoto: number;
  outcomes: Record<string, number>;
  failureReasons: Record<string, number>;
  /** From the upload's completion to the worker starting it. */
  waitSeconds: { p50: number; p95: number; max: number };
  /** From the worker starting a photo to its product settling. */
  processingSeconds: { p50: number; p95: number; max: number };
  requeues: number;
  superseded: number;
  deadLetters: number;
  /** Products whose photo started more than one sequence, or whose variants were written twice. */
  duplicateWork: number;
  unsettled: number;
}

interface HistoryEntry {
  event: string;
  toStatus: string | null;
  variant: string | null;
  sequence: number | null;
  createdAt: string;
}

const percentile = (values: number[], share: number): number => {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(share * sorted.length) - 1)] as number;
};

const spread = (values: number[]) => ({
  p50: median(values),
  p95: percentile(values, 0.95),
  max: Math.max(...values),
});

/**
 * One distinct photo per product: each is a different crop (a little over half of each side, at a
 * position set by the index), turned and mirrored by the index, of one of the given photos. A burst of
 * copies would be a burst of near-duplicates, which is not what a catalogue looks like.
 */
export const distinctPhotos = async (sources: Buffer[], count: number): Promise<Buffer[]> => {
  // Upright first, so each crop is measured on the pixels as they are seen.
  const upright = await Promise.all(
    sources.map(async (source) => {
      const { data, info } = await sharp(source).autoOrient().toBuffer({ resolveWithObject: true });
      return { data, width: info.width, height: info.height };
    }),
  );
  const steps = 5;
  const photos: Buffer[] = [];
  for (let index = 0; index < count; index += 1) {
    const { data, width, height } = upright[index % upright.length] as (typeof upright)[number];
    const variant = Math.floor(index / upright.length);
    const cropWidth = Math.round(width * 0.6);
    const cropHeight = Math.round(height * 0.6);
    photos.push(
      await sharp(data)
        .extract({
          left: Math.round(((variant % steps) / (steps - 1)) * (width - cropWidth)),
          top: Math.round(((Math.floor(variant / steps) % steps) / (steps - 1)) * (height - cropHeight)),
          width: cropWidth,
          height: cropHeight,
        })
        .rotate(90 * (Math.floor(variant / (steps * steps)) % 4))
        .flop(Math.floor(variant / (steps * steps * 4)) % 2 === 1)
        .flatten({ background: "#ffffff" })
        .jpeg({ quality: 90 })
        .toBuffer(),
    );
  }
  return photos;
};

/** Runs `work` over `items`, `concurrency` at a time. */
const eachConcurrently = async <T>(items: T[], concurrency: number, work: (item: T) => Promise<void>) => {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) await work(items[next++] as T);
    }),
  );
};

/** Every product of the given statuses, a page at a time. */
const productsWithStatus = async (api: ApiTarget, status: string): Promise<Set<string>> => {
  const ids = new Set<string>();
  let cursor: string | null = null;
  do {
    const page: { products: { id: string }[]; nextCursor: string | null } = await callApi(
      api,
      "GET",
      `/products?status=${status}&limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`,
    );
    for (const product of page.products) ids.add(product.id);
    cursor = page.nextCursor;
  } while (cursor);
  return ids;
};

const historyOf = async (api: ApiTarget, productId: string): Promise<HistoryEntry[]> => {
  const entries: HistoryEntry[] = [];
  let cursor: string | null = null;
  do {
    const page: { history: HistoryEntry[]; nextCursor: string | null } = await callApi(
      api,
      "GET",
      `/products/${productId}/history?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`,
    );
    entries.push(...page.history);
    cursor = page.nextCursor;
  } while (cursor);
  return entries;
};

export const runBurst = async (options: BurstOptions): Promise<BurstReport> => {
  const { api, count, progress = () => undefined } = options;
  const suffix = randomBytes(3).toString("hex");
  const created: { products: { id: string; upload: { url: string; fields: Record<string, string> } }[] } = {
    products: [],
  };
  // One bulk request per 500 products, the API's limit.
  for (let start = 0; start < count; start += 500) {
    const batch: typeof created = await callApi(api, "POST", "/products", {
      products: Array.from({ length: Math.min(500, count - start) }, (_, offset) => ({
        sku: `BURST-${suffix}-${start + offset}`,
        title: `Burst photo ${start + offset}`,
        category: "burst",
        mrp: "100.00",
        price: "90.00",
        gst: "18.00",
        contentType: "image/jpeg",
      })),
    });
    created.products.push(...batch.products);
  }
  progress(`created ${created.products.length} products; uploading ${count} photos`);
  const uploadedAt = new Map<string, number>();
  const started = Date.now();
  await eachConcurrently(
    created.products.map((product, index) => ({ product, index })),
    options.uploadConcurrency,
    async ({ product, index }) => {
      await uploadPhoto(
        product.upload,
        options.photos[index % options.photos.length] as Buffer,
        `burst-${index}.jpg`,
      );
      uploadedAt.set(product.id, Date.now());
    },
  );
  progress(`uploaded in ${((Date.now() - started) / 1000).toFixed(1)} s; waiting for the pipeline`);

  const ours = new Set(created.products.map((product) => product.id));
  let unsettled = ours.size;
  const deadline = started + options.timeoutMs;
  while (Date.now() < deadline) {
    const waiting = new Set([
      ...(await productsWithStatus(api, "pending")),
      ...(await productsWithStatus(api, "processing")),
    ]);
    unsettled = [...ours].filter((id) => waiting.has(id)).length;
    if (unsettled === 0) break;
    progress(
      `${ours.size - unsettled}/${ours.size} settled after ${Math.round((Date.now() - started) / 1000)} s`,
    );
    await new Promise((resolveWait) => setTimeout(resolveWait, 2000));
  }
  const wallSeconds = (Date.now() - started) / 1000;

  const outcomes: Record<string, number> = {};
  const failureReasons: Record<string, number> = {};
  const waits: number[] = [];
  const processing: number[] = [];
  let requeues = 0;
  let superseded = 0;
  let duplicateWork = 0;
  await eachConcurrently([...ours], 8, async (id) => {
    const product: { status: string; statusReason: string | null } = await callApi(
      api,
      "GET",
      `/products/${id}`,
    );
    outcomes[product.status] = (outcomes[product.status] ?? 0) + 1;
    if (product.status === "failed") {
      const reason = product.statusReason ?? "(no reason)";
      failureReasons[reason] = (failureReasons[reason] ?? 0) + 1;
    }
    const history = await historyOf(api, id);
    const starts = history.filter(
      (entry) => entry.event === "status_changed" && entry.toStatus === "processing",
    );
    const settled = history.find(
      (entry) => entry.event === "status_changed" && SETTLED.has(entry.toStatus ?? ""),
    );
    const variantWrites = history.filter((entry) => entry.event === "variant_created");
    const distinctVariants = new Set(variantWrites.map((entry) => `${entry.sequence}/${entry.variant}`));
    if (starts.length > 1 || variantWrites.length !== distinctVariants.size) duplicateWork += 1;
    requeues += history.filter((entry) => entry.event === "notification_requeued").length;
    superseded += history.filter((entry) => entry.event === "upload_superseded").length;
    const uploaded = uploadedAt.get(id);
    const start = starts[0];
    if (uploaded !== undefined && start)
      waits.push(Math.max(0, Date.parse(start.createdAt) - uploaded) / 1000);
    if (start && settled)
      processing.push((Date.parse(settled.createdAt) - Date.parse(start.createdAt)) / 1000);
  });

  const sqs = new SQSClient({
    region: "us-east-1",
    endpoint: options.sqsEndpoint,
    credentials: { accessKeyId: "local", secretAccessKey: "local" },
  });
  const { QueueUrl: deadLetterUrl } = await sqs.send(
    new GetQueueUrlCommand({ QueueName: resourceName(options.stage, QUEUES.enhanceDeadLetter) }),
  );
  const { Attributes: dlq = {} } = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: deadLetterUrl,
      AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    }),
  );
  sqs.destroy();

  return {
    count,
    wallSeconds,
    secondsPerPhoto: wallSeconds / count,
    outcomes,
    failureReasons,
    waitSeconds: spread(waits),
    processingSeconds: spread(processing),
    requeues,
    superseded,
    deadLetters:
      Number(dlq.ApproximateNumberOfMessages ?? 0) + Number(dlq.ApproximateNumberOfMessagesNotVisible ?? 0),
    duplicateWork,
    unsettled,
  };
};

export interface EngineThroughput {
  photos: number;
  lanes: number;
  seconds: number;
  photosPerMinute: number;
}

/** The same photos through the engine alone, in a child process with the worker's malloc settings. */
export const engineThroughput = async (photos: Buffer[], lanes: number): Promise<EngineThroughput> => {
  const folder = await mkdtemp(join(tmpdir(), "pixel-lab-burst-"));
  try {
    await Promise.all(
      photos.map((photo, index) => writeFile(join(folder, `${String(index).padStart(6, "0")}.jpg`), photo)),
    );
    const stdout = execFileSync(
      process.execPath,
      [new URL("./engine-throughput.ts", import.meta.url).pathname, folder, String(lanes)],
      { encoding: "utf8", env: { ...process.env, ...WORKER_PROCESS_ENV }, maxBuffer: 1024 * 1024 },
    );
    return JSON.parse(stdout.trim().split("\n").at(-1) as string) as EngineThroughput;
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
};

/** `npm start` in a child process on a fresh database of its own, dropped (with its app user) after. */
const startOwnStack = async (databaseServer: string) => {
  const server = databaseServer.replace(/\/+$/, "");
  const database = `pixel_lab_burst_${randomBytes(4).toString("hex")}`;
  const stack = await startLocalStackProcess({
    DATABASE_URL: `${server}/${database}`,
    POWERTOOLS_LOG_LEVEL: process.env.POWERTOOLS_LOG_LEVEL ?? "WARN",
    ...WORKER_PROCESS_ENV,
  });
  return {
    ...stack,
    async stop() {
      await stack.stop();
      // The database and the app user the stack made for it: users live server-wide.
      await dropDatabase(`${server}/${database}`);
      const admin = createMysqlDb(`${server}/`, { connectionLimit: 1 });
      try {
        await dropAppUser(admin, appDatabaseUser(database));
      } finally {
        await admin.destroy();
      }
    },
  };
};

const PHOTO_TYPES = new Set([".jpg", ".jpeg", ".png", ".webp"]);

const main = async () => {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      photos: { type: "string", default: new URL("../samples/", import.meta.url).pathname },
      api: { type: "string" },
      sqs: { type: "string" },
      stage: { type: "string", default: "local" },
      concurrency: { type: "string", default: "32" },
      // The local worker's lanes (LOCAL_WORKER_CONCURRENCY, default 2): the engine alone runs as many.
      lanes: { type: "string", default: process.env.LOCAL_WORKER_CONCURRENCY ?? "2" },
      json: { type: "string" },
      token: { type: "string", default: process.env.PIXEL_LAB_TOKEN },
    },
  });
  const count = Number(positionals[0] ?? 100);
  if (!Number.isInteger(count) || count < 1)
    throw new Error(`N must be a whole number ≥ 1, got ${positionals[0]}`);
  const folder = resolve(values.photos ?? "");
  const sources = await Promise.all(
    (await readdir(folder))
      .filter((name) => PHOTO_TYPES.has(extname(name).toLowerCase()))
      .sort()
      .map((name) => readFile(join(folder, name))),
  );
  if (sources.length === 0) throw new Error(`no photos in ${folder}`);
  process.stdout.write(`making ${count} distinct photos from ${sources.length} in ${folder}\n`);
  const photos = await distinctPhotos(sources, count);
  const own =
    values.api && values.sqs
      ? undefined
      : await startOwnStack(process.env.BURST_DATABASE_SERVER ?? "mysql://root@127.0.0.1:3306");
  try {
    const report = await runBurst({
      api: {
        url: values.api ?? own?.apiUrl ?? "",
        token:
          values.token ??
          (own ? await mintLocalToken(own.dataDir, { name: "burst", roles: ["seller"] }) : undefined),
      },
      sqsEndpoint: values.sqs ?? own?.emulatorUrl ?? "",
      stage: values.stage ?? "local",
      count,
      photos,
      uploadConcurrency: Number(values.concurrency),
      timeoutMs: (count * 10 + 300) * 1000,
      progress: (line) => process.stdout.write(`  ${line}\n`),
    });
    process.stdout.write(
      `  the same ${photos.length} photos through the engine alone, ${values.lanes} at a time\n`,
    );
    const engine = await engineThroughput(photos, Number(values.lanes));
    const pipelinePerMinute = (60 * report.count) / report.wallSeconds;
    const overhead = engine.photosPerMinute / pipelinePerMinute - 1;
    const seconds = (value: number) => `${value.toFixed(2)} s`;
    process.stdout.write(
      [
        "",
        `burst of ${report.count} photos (${photos.length} distinct)`,
        `  wall time          ${seconds(report.wallSeconds)} (${seconds(report.secondsPerPhoto)} per photo)`,
        `  outcomes           ${Object.entries(report.outcomes)
          .map(([status, n]) => `${status} ${n}`)
          .join(", ")}${report.unsettled ? `, unsettled ${report.unsettled}` : ""}`,
        ...Object.entries(report.failureReasons).map(([reason, n]) => `    failed ×${n}: ${reason}`),
        `  wait in queue      p50 ${seconds(report.waitSeconds.p50)}, p95 ${seconds(report.waitSeconds.p95)}, max ${seconds(report.waitSeconds.max)}`,
        `  processing         p50 ${seconds(report.processingSeconds.p50)}, p95 ${seconds(report.processingSeconds.p95)}, max ${seconds(report.processingSeconds.max)}`,
        `  re-queues          ${report.requeues}`,
        `  superseded         ${report.superseded}`,
        `  DLQ                ${report.deadLetters}`,
        `  duplicate work     ${report.duplicateWork}`,
        `  throughput         ${pipelinePerMinute.toFixed(1)} photos/min through the pipeline; the engine alone ` +
          `${engine.photosPerMinute.toFixed(1)} photos/min on the same photos, ${engine.lanes} at a time ` +
          `(${engine.seconds.toFixed(1)} s): pipeline overhead ${(100 * overhead).toFixed(1)}% (target ≤ 10%)`,
        "",
      ].join("\n"),
    );
    if (values.json) {
      await writeFile(
        values.json,
        `${JSON.stringify({ ...report, pipelinePhotosPerMinute: pipelinePerMinute, engine, pipelineOverhead: overhead }, null, 2)}\n`,
      );
    }
    const clean =
      report.unsettled === 0 &&
      report.requeues === 0 &&
      report.deadLetters === 0 &&
      report.duplicateWork === 0;
    process.exitCode = clean ? 0 : 1;
  } catch (error) {
    if (own) process.stderr.write(own.output());
    throw error;
  } finally {
    await own?.stop();
  }
};

if (import.meta.url === `file://${process.argv[1]}`) await main();
