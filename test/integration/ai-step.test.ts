import { randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import type { SQSEvent } from "aws-lambda";
import sharp from "sharp";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createGeminiEditor } from "../../lambdas/adapters/gemini.ts";
import { logger } from "../../lambdas/adapters/logger.ts";
import { createObjectStore } from "../../lambdas/adapters/object-store.ts";
import { createProductRepository } from "../../lambdas/adapters/product-repository.ts";
import { createEnhanceQueue } from "../../lambdas/adapters/queue.ts";
import { type AiStepDeps, type AiStepMessage, runAiStep } from "../../lambdas/domain/ai-step.ts";
import { enhanceUpload, type WorkerDeps } from "../../lambdas/domain/enhance-upload.ts";
import { type ApiDeps, createProducts, getProduct } from "../../lambdas/domain/products.ts";
import { DEFAULT_VARIANT_SET } from "../../lambdas/engine/variant-spec.ts";
import { createEnhanceHandler } from "../../lambdas/handlers/enhance.ts";
import { toSqsRecord } from "../../local/event-source-poller.ts";
import { type FakeBehaviour, type FakeGemini, startFakeGemini } from "../../local/fake-gemini.ts";
import { lambdaContext } from "../../local/lambda-context.ts";
import { freePort } from "../../local/private-server.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { testApiDeps } from "../support/deps.ts";
import { startTestEmulator, type TestEmulator } from "../support/emulator.ts";
import { TEST_SELLER } from "../support/identity.ts";
import { CORPUS, postUpload } from "../support/upload.ts";

/**
 * The AI step against a fake Gemini speaking the REST API the real SDK calls, one scenario at a time: each
 * asserts the rows, the objects, the product's status and the number of requests Gemini saw.
 */
let database: TestDatabase;
let emulator: TestEmulator;
let fake: FakeGemini;
let apiDeps: ApiDeps;
let workerDeps: WorkerDeps;
let photo: Buffer;
const scheduled: AiStepMessage[] = [];

const aiDeps = (overrides: Partial<AiStepDeps["aiSettings"]> = {}, baseUrl = fake.url): AiStepDeps => ({
  ...workerDeps,
  editor: async () => ({
    editor: createGeminiEditor({
      apiKey: "test-key",
      baseUrl,
      analysisModel: "gemini-3.8-flash",
      imageModel: "gemini-3.1-flash-image",
      callTimeoutMs: 1500,
    }),
  }),
  // One call at a time, the analysis first: the fake's script is consumed in that order.
  aiSettings: { aiVariants: 1, budgetSeconds: 6, concurrency: 1, ...overrides },
});

beforeAll(async () => {
  photo = await readFile(`${CORPUS}apple.jpg`);
  database = await createTestDatabase("ai_step");
  emulator = await startTestEmulator();
  fake = await startFakeGemini();
  const settings = {
    variants: DEFAULT_VARIANT_SET.filter((variant) => variant.name === "thumb"),
    rawBucket: emulator.rawBucket,
    enhancedBucket: emulator.enhancedBucket,
    maxUploadBytes: 25 * 1024 * 1024,
    uploadUrlTtlSeconds: 900,
    maxInputPixels: 100_000_000,
    assetsBaseUrl: "https://cdn.example.test",
    rawRetentionDays: 30,
  };
  apiDeps = testApiDeps(database, emulator, settings);
  workerDeps = {
    repository: createProductRepository(database.db),
    objectStore: createObjectStore(emulator.s3),
    settings,
    clock: () => new Date(),
    log: logger,
    ai: { kind: "queue", send: async (message) => void scheduled.push(message) },
  };
});

afterAll(async () => {
  await fake.stop();
  await emulator.stop();
  await database.drop();
});

beforeEach(() => {
  fake.reset();
  scheduled.length = 0;
});

/** A product whose photo went through the sharp step: it is in pending_review and its AI step is scheduled. */
const reviewedProduct = async (deps: WorkerDeps = workerDeps) => {
  const [summary] = await createProducts(apiDeps, TEST_SELLER, [
    {
      sku: `AI-${randomUUID()}`,
      title: "AI test",
      category: "test",
      mrp: "10.00",
      price: "9.00",
      discount: "0.00",
      gst: "5.00",
      contentType: "image/jpeg",
    },
  ]);
  if (!summary?.upload) throw new Error("no upload issued");
  expect((await postUpload(summary.upload, photo)).status).toBe(201);
  const outcome = await enhanceUpload(
    deps,
    { bucket: emulator.rawBucket, key: summary.upload.key },
    { number: 1, isLast: false },
  );
  expect(outcome.kind).toBe("enhanced");
  const product = await apiDeps.repository.findProduct(summary.id);
  expect(product?.status).toBe("pending_review");
  return { productId: summary.id, sequence: product?.lastSequence ?? 0 };
};

const historyOf = async (productId: string) =>
  (await apiDeps.repository.history(productId, { limit: 100, order: "oldest" })).filter((entry) =>
    entry.event.startsWith("ai_"),
  );

const aiImages = async (productId: string) =>
  (await apiDeps.repository.currentImages(productId)).filter((image) => image.aiGenerated);

const generateCalls = () => fake.calls.filter((call) => call.kind !== "get");

/** Runs one photo's AI step with the fake answering `behaviours` in order (analysis first, then the edit). */
const aiStepWith = async (behaviours: FakeBehaviour[], overrides: Partial<AiStepDeps["aiSettings"]> = {}) => {
  const { productId, sequence } = await reviewedProduct();
  expect(scheduled).toEqual([{ type: "ai", productId, sequence }]);
  fake.script(...behaviours);
  const started = performance.now();
  const outcome = await runAiStep(aiDeps(overrides), { type: "ai", productId, sequence });
  const seconds = (performance.now() - started) / 1000;
  const product = await apiDeps.repository.findProduct(productId);
  // Whatever Gemini did, the product stays where its sharp variants took it.
  expect(product?.status).toBe("pending_review");
  return {
    productId,
    sequence,
    outcome,
    seconds,
    history: await historyOf(productId),
    images: await aiImages(productId),
  };
};

describe("the AI step against a fake Gemini", () => {
  it("stores an AI variant through the engine's output stage, marked AI-generated, with its call's figures", async () => {
    const { productId, history, images } = await aiStepWith([{ kind: "analysis" }, { kind: "image" }]);
    expect(generateCalls().map((call) => call.kind)).toEqual(["analysis", "edit"]);
    expect(images).toEqual([
      expect.objectContaining({
        variant: "ai-studio",
        aiGenerated: true,
        needsAttention: false,
        format: "jpeg",
      }),
    ]);
    const [image] = images;
    const stored = await workerDeps.objectStore.get(emulator.enhancedBucket, image?.key ?? "");
    const metadata = await sharp(stored).metadata();
    expect(metadata.format).toBe("jpeg");
    expect(metadata.exif).toBeUndefined();
    const xmp = metadata.xmp?.toString() ?? "";
    expect(xmp).toContain("trainedAlgorithmicMedia");
    expect(xmp).toContain("studio-white-v1");
    expect(history.find((entry) => entry.event === "ai_variant_created")).toMatchObject({
      variant: "ai-studio",
      status: "succeeded",
      modelVersion: expect.stringContaining("gemini"),
      responseId: expect.any(String),
      tokenUsage: expect.objectContaining({ totalTokens: expect.any(Number) }),
      processingMs: expect.any(Number),
      details: expect.objectContaining({ promptId: "studio-white-v1", attempts: 1 }),
    });
    const view = await getProduct(apiDeps, TEST_SELLER, productId);
    expect(view.images.find((entry) => entry.variant === "ai-studio")).toMatchObject({
      aiGenerated: true,
      needsAttention: false,
      guardrail: expect.objectContaining({ verdict: "same" }),
    });
  });

  it("stores the analysis, validated, and shows it with the product", async () => {
    const { productId, history } = await aiStepWith([
      { kind: "analysis", answer: { recommendedMode: "STANDARDIZE", problems: ["clutter"] } },
      { kind: "image" },
    ]);
    expect(generateCalls()).toHaveLength(2);
    expect(history.find((entry) => entry.event === "ai_analysis")).toMatchObject({
      status: "succeeded",
      responseId: expect.any(String),
      tokenUsage: expect.objectContaining({ promptTokens: expect.any(Number) }),
    });
    const view = await getProduct(apiDeps, TEST_SELLER, productId);
    expect(view.analysis?.ai).toMatchObject({
      recommendedMode: "STANDARDIZE",
      problems: ["clutter"],
      model: "gemini-3.8-flash",
      responseId: expect.any(String),
    });
  });

  it("records an analysis that breaks the schema as a failure, not a crash", async () => {
    const { productId, history } = await aiStepWith([{ kind: "off-schema" }, { kind: "image" }]);
    expect(generateCalls()).toHaveLength(2);
    expect(history.find((entry) => entry.event === "ai_analysis_failed")).toMatchObject({
      status: "failed",
      error: expect.stringMatching(/^the analysis broke its schema: /),
    });
    expect((await getProduct(apiDeps, TEST_SELLER, productId)).analysis?.ai).toBeNull();
    expect(await aiImages(productId)).toHaveLength(1);
  });

  it("retries a 429 and succeeds", async () => {
    const { images, history } = await aiStepWith([
      { kind: "analysis" },
      { kind: "error", status: 429 },
      { kind: "image" },
    ]);
    expect(generateCalls().map((call) => call.kind)).toEqual(["analysis", "edit", "edit"]);
    expect(images).toHaveLength(1);
    expect(history.find((entry) => entry.event === "ai_variant_created")?.details).toMatchObject({
      attempts: 2,
    });
  });

  it("gives up on 503s when the budget runs out, and the product keeps its sharp variants", async () => {
    const { history, images, seconds, productId } = await aiStepWith(
      [{ kind: "analysis" }, { kind: "error", status: 503, times: 100 }],
      { budgetSeconds: 3 },
    );
    expect(generateCalls().length).toBeGreaterThan(2);
    expect(seconds).toBeLessThan(3 + 2);
    expect(images).toEqual([]);
    expect(history.find((entry) => entry.event === "ai_variant_failed")).toMatchObject({
      variant: "ai-studio",
      status: "failed",
      details: expect.objectContaining({ failure: "unavailable" }),
    });
    expect((await apiDeps.repository.currentImages(productId)).map((image) => image.variant)).toEqual([
      "thumb",
    ]);
  });

  it.each([
    ["a blocked prompt", { kind: "prompt-blocked" } as FakeBehaviour, "blocked"],
    ["finish reason SAFETY", { kind: "finish", reason: "SAFETY" } as FakeBehaviour, "blocked"],
    ["finish reason IMAGE_SAFETY", { kind: "finish", reason: "IMAGE_SAFETY" } as FakeBehaviour, "blocked"],
    [
      "finish reason PROHIBITED_CONTENT",
      { kind: "finish", reason: "PROHIBITED_CONTENT" } as FakeBehaviour,
      "blocked",
    ],
    ["finish reason NO_IMAGE", { kind: "finish", reason: "NO_IMAGE" } as FakeBehaviour, "no-image"],
    ["a text-only answer", { kind: "text", text: "I cannot edit this photo." } as FakeBehaviour, "no-image"],
    ["a 400", { kind: "error", status: 400 } as FakeBehaviour, "rejected"],
    ["a 403", { kind: "error", status: 403 } as FakeBehaviour, "rejected"],
  ])("records %s as a failed AI variant, never retried", async (_name, behaviour, failure) => {
    const { history, images } = await aiStepWith([{ kind: "analysis" }, behaviour]);
    expect(generateCalls()).toHaveLength(2);
    expect(images).toEqual([]);
    expect(history.find((entry) => entry.event === "ai_variant_failed")).toMatchObject({
      variant: "ai-studio",
      error: expect.any(String),
      details: expect.objectContaining({ failure, attempts: 1 }),
    });
  });

  it("takes the real image after 'thought' image parts", async () => {
    const { images } = await aiStepWith([{ kind: "analysis" }, { kind: "thought-images", count: 2 }]);
    expect(generateCalls()).toHaveLength(2);
    expect(images).toHaveLength(1);
    const stored = await workerDeps.objectStore.get(emulator.enhancedBucket, images[0]?.key ?? "");
    // A thought image is a grey draft: the stored one keeps the photo's colours.
    const { channels } = await sharp(stored).stats();
    const spread =
      Math.max(...channels.slice(0, 3).map((channel) => channel.mean)) -
      Math.min(...channels.slice(0, 3).map((channel) => channel.mean));
    expect(spread).toBeGreaterThan(5);
  });

  it("records bytes that are not an image as an unusable AI variant", async () => {
    const { history, images } = await aiStepWith([{ kind: "analysis" }, { kind: "not-an-image" }]);
    expect(generateCalls()).toHaveLength(2);
    expect(images).toEqual([]);
    expect(history.find((entry) => entry.event === "ai_variant_failed")).toMatchObject({
      error: expect.stringMatching(/^Gemini's image is unusable: /),
      details: expect.objectContaining({ failure: "unusable" }),
    });
  });

  it("ends a reply slower than the timeout within the budget", async () => {
    const { history, seconds } = await aiStepWith(
      [{ kind: "analysis" }, { kind: "slow", delayMs: 10_000, times: 10 }],
      { budgetSeconds: 4 },
    );
    expect(seconds).toBeLessThan(4 + 2);
    expect(history.find((entry) => entry.event === "ai_variant_failed")).toMatchObject({
      details: expect.objectContaining({ failure: "timeout" }),
    });
  });

  it("ends a refused connection within the budget", async () => {
    const { productId, sequence } = await reviewedProduct();
    const closed = `http://127.0.0.1:${await freePort()}`;
    const started = performance.now();
    const outcome = await runAiStep(aiDeps({ budgetSeconds: 3 }, closed), {
      type: "ai",
      productId,
      sequence,
    });
    expect((performance.now() - started) / 1000).toBeLessThan(3 + 2);
    expect(outcome).toMatchObject({ kind: "ai", made: [] });
    const failures = (await historyOf(productId)).filter((entry) => entry.status === "failed");
    expect(failures.map((entry) => (entry.details as { failure: string }).failure)).toEqual([
      "unavailable",
      "unavailable",
    ]);
    expect((await apiDeps.repository.findProduct(productId))?.status).toBe("pending_review");
  });

  it("flags an AI image of a different object as needing attention, with the measured figures", async () => {
    const { productId, images, history } = await aiStepWith([
      { kind: "analysis" },
      { kind: "different-object" },
    ]);
    expect(images).toEqual([expect.objectContaining({ variant: "ai-studio", needsAttention: true })]);
    expect(history.find((entry) => entry.event === "ai_variant_created")).toMatchObject({
      status: "needs_attention",
    });
    const view = await getProduct(apiDeps, TEST_SELLER, productId);
    const flagged = view.images.find((image) => image.variant === "ai-studio");
    expect(flagged).toMatchObject({ needsAttention: true, guardrail: { verdict: "needs_attention" } });
    expect(flagged?.guardrail?.reasons.length).toBeGreaterThan(0);
  });

  it("asks for several variants at once within the concurrency cap", async () => {
    const { images } = await aiStepWith([], { aiVariants: 3, concurrency: 3 });
    expect(generateCalls()).toHaveLength(4);
    expect(images.map((image) => image.variant).sort()).toEqual(["ai-detail", "ai-light", "ai-studio"]);
  });

  it("does not call Gemini again for what a redelivered message already stored", async () => {
    const { productId, sequence } = await aiStepWith([], { aiVariants: 2 });
    expect(generateCalls()).toHaveLength(3);
    fake.reset();
    const again = await runAiStep(aiDeps({ aiVariants: 2 }), { type: "ai", productId, sequence });
    expect(again).toMatchObject({ kind: "skipped", reason: expect.stringMatching(/already done/) });
    expect(fake.calls).toEqual([]);
    // A third variant configured later is the only thing asked for.
    const more = await runAiStep(aiDeps({ aiVariants: 3 }), { type: "ai", productId, sequence });
    expect(more).toMatchObject({ kind: "ai", made: ["ai-detail"] });
    expect(generateCalls().map((call) => call.kind)).toEqual(["edit"]);
  });

  it("leaves a product a reviewer already decided alone", async () => {
    const { productId, sequence } = await reviewedProduct();
    await apiDeps.repository.decideReview({
      productId,
      decision: { decision: "reject", reason: "Blurred photo." },
      actor: "rita",
      now: new Date(),
    });
    const outcome = await runAiStep(aiDeps(), { type: "ai", productId, sequence });
    expect(outcome).toMatchObject({ kind: "skipped", reason: expect.stringMatching(/is rejected/) });
    expect(fake.calls).toEqual([]);
  });

  it("leaves a sequence that is no longer the product's newest alone", async () => {
    const { productId, sequence } = await reviewedProduct();
    const outcome = await runAiStep(aiDeps(), { type: "ai", productId, sequence: sequence + 1 });
    expect(outcome.kind).toBe("skipped");
    expect(fake.calls).toEqual([]);
  });
});

describe("without a key", () => {
  it("calls nothing, and the history says the AI step was skipped", async () => {
    const { productId } = await reviewedProduct({ ...workerDeps, ai: undefined });
    expect(fake.calls).toEqual([]);
    expect(await historyOf(productId)).toEqual([
      expect.objectContaining({
        event: "ai_skipped",
        status: "skipped",
        error: "the AI step was skipped: no Gemini API key is configured",
      }),
    ]);
    expect((await apiDeps.repository.findProduct(productId))?.status).toBe("pending_review");
  });
});

describe("the worker's AI message", () => {
  /** The AI message after S3's test event, which always succeeds: the batch answers per record. */
  const sqsEvent = (body: unknown): SQSEvent => ({
    Records: [{ Service: "Amazon S3", Event: "s3:TestEvent" }, body].map((message) => {
      const record = toSqsRecord(
        {
          MessageId: randomUUID(),
          ReceiptHandle: randomUUID(),
          Body: JSON.stringify(message),
          MD5OfBody: "x",
        },
        emulator.queue.arn,
        "us-east-1",
      );
      record.attributes.ApproximateReceiveCount = "1";
      return record;
    }),
  });

  it("runs the AI step from the queue, and leaves it on the queue when too little of the invocation is left", async () => {
    const { productId, sequence } = await reviewedProduct();
    const deps = aiDeps({ budgetSeconds: 8 });
    const handler = createEnhanceHandler({
      deps: workerDeps,
      queue: createEnhanceQueue(emulator.sqs, emulator.queue.url),
      maxReceiveCount: 3,
      photoBudgetSeconds: 10,
      busyRetryDelaySeconds: 1,
      maxDeferrals: 5,
      aiStep: { editor: deps.editor, settings: deps.aiSettings },
    });
    const message = { type: "ai", productId, sequence };
    // 8 s of budget and its margin do not fit in 12 s (a photo's 10 s would): not started, nothing called.
    const tooLate = await handler(sqsEvent(message), lambdaContext("enhance", 12));
    expect(tooLate?.batchItemFailures).toHaveLength(1);
    expect(fake.calls).toEqual([]);
    const done = await handler(sqsEvent(message), lambdaContext("enhance", 30));
    expect(done?.batchItemFailures).toEqual([]);
    expect(await aiImages(productId)).toHaveLength(1);
    expect(generateCalls()).toHaveLength(2);
  });
});
