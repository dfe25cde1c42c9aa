/**
 * The Gemini adapter through the real `@google/genai` SDK against the local fake: what each answer becomes, what
 * the call record says, and how many requests reached "Gemini" (retries are the adapter's, never the SDK's).
 */
import { createServer, type Server, type Socket } from "node:net";
import sharp from "sharp";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createGeminiEditor, type GeminiConfig, probeGemini } from "../../lambdas/adapters/gemini.ts";
import type { AiCallRecord, AiImage, AiOutcome } from "../../lambdas/domain/ports.ts";
import { DEFAULT_ANALYSIS, type FakeGemini, startFakeGemini } from "../../local/fake-gemini.ts";
import { freePort } from "../../local/private-server.ts";

const LATENCY_MS = 25;
/** How far past its deadline a call may end: the time to notice the abort and build the outcome. */
const SLACK_MS = 250;
const API_KEY = "test-key-3f9a1c";
const ANALYSIS_MODEL = "gemini-3.8-flash";
const IMAGE_MODEL = "gemini-3.1-flash-image";

const ANALYSIS_SCHEMA = {
  type: "object",
  properties: {
    product: { type: "string" },
    background: { type: "string" },
    problems: {
      type: "array",
      items: {
        type: "string",
        enum: ["blur", "lighting", "clutter", "text", "watermark", "multiple_products"],
      },
    },
    recommendedMode: { type: "string" },
    altText: { type: "string" },
    suggestedTitle: { type: "string" },
    suggestedCategory: { type: "string" },
    confidence: { type: "number", minimum: 0, maximum: 1 },
  },
  required: [
    "product",
    "background",
    "problems",
    "recommendedMode",
    "altText",
    "suggestedTitle",
    "confidence",
  ],
};

let fake: FakeGemini;
/** A product photo: a blue square on white, 400×300. */
let photo: AiImage;

const config = (overrides: Partial<GeminiConfig> = {}): GeminiConfig => ({
  apiKey: API_KEY,
  baseUrl: fake.url,
  analysisModel: ANALYSIS_MODEL,
  imageModel: IMAGE_MODEL,
  callTimeoutMs: 5_000,
  ...overrides,
});

/** No back-off waits: `random` 0 makes every full-jitter wait 0 ms. */
const quickEditor = (overrides: Partial<GeminiConfig> = {}) =>
  createGeminiEditor(config(overrides), { random: () => 0 });
const inSeconds = (seconds: number) => new Date(Date.now() + seconds * 1000);

const edit = (overrides: Partial<GeminiConfig> = {}, seconds = 10) =>
  quickEditor(overrides).edit(photo, {
    prompt: "Put the product on a pure white background.",
    deadline: inSeconds(seconds),
  });
const analyse = (overrides: Partial<GeminiConfig> = {}, seconds = 10) =>
  quickEditor(overrides).analyse(photo, {
    prompt: "Describe the product photo.",
    jsonSchema: ANALYSIS_SCHEMA,
    deadline: inSeconds(seconds),
  });

const failure = <T>(outcome: AiOutcome<T>) => {
  if (outcome.ok) throw new Error(`expected a failure, got ok (${JSON.stringify(outcome.call)})`);
  return outcome;
};
const success = <T>(outcome: AiOutcome<T>) => {
  if (!outcome.ok) throw new Error(`expected ok, got ${outcome.kind}: ${outcome.reason}`);
  return outcome;
};

/** A call record of one answered request: Google's ids and usage, the fake's latency at least. */
const expectAnsweredOnce = (call: AiCallRecord, model: string) => {
  expect(call.model).toBe(model);
  expect(call.modelVersion).toBe(model);
  expect(call.responseId).toMatch(/^[\w-]{20,}$/);
  expect(call.attempts).toBe(1);
  expect(call.latencyMs).toBeGreaterThanOrEqual(LATENCY_MS);
};

/** A call record of requests that got no usable HTTP answer: no ids, no usage. */
const expectUnanswered = (call: AiCallRecord, attempts: number) => {
  expect(call).toMatchObject({ modelVersion: null, responseId: null, usage: null, attempts });
};

const pixel = async (bytes: Uint8Array, x: number, y: number) => {
  const { data, info } = await sharp(bytes).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const offset = (y * info.width + x) * info.channels;
  return [data[offset], data[offset + 1], data[offset + 2]];
};

beforeAll(async () => {
  fake = await startFakeGemini({ latencyMs: LATENCY_MS });
  const square = Buffer.from(
    '<svg xmlns="http://www.w3.org/2000/svg" width="400" height="300"><rect width="400" height="300" fill="#ffffff"/><rect x="125" y="75" width="150" height="150" fill="#0000ff"/></svg>',
  );
  photo = {
    bytes: new Uint8Array(await sharp(square).jpeg({ quality: 90 }).toBuffer()),
    mimeType: "image/jpeg",
  };
});

afterAll(async () => {
  await fake.stop();
});

beforeEach(() => {
  fake.reset();
});

describe("edit", () => {
  it("returns the edited image: the same object with the fake's banner, in one request", async () => {
    const outcome = success(await edit());
    expect(outcome.value.mimeType).toBe("image/png");
    const meta = await sharp(outcome.value.bytes).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(["png", 400, 300]);
    expect(Buffer.from(outcome.value.bytes).equals(Buffer.from(photo.bytes))).toBe(false);
    // The banner is red across the top; the blue square is still in the middle.
    const [r, g, b] = await pixel(outcome.value.bytes, 3, 3);
    expect(r).toBeGreaterThan(180);
    expect(g).toBeLessThan(60);
    expect(b).toBeLessThan(60);
    const [cr, cg, cb] = await pixel(outcome.value.bytes, 200, 150);
    expect(cb).toBeGreaterThan(200);
    expect(Math.max(cr ?? 255, cg ?? 255)).toBeLessThan(40);

    expectAnsweredOnce(outcome.call, IMAGE_MODEL);
    expect(outcome.call.usage).toEqual({
      promptTokens: expect.any(Number),
      outputTokens: 1290,
      thoughtTokens: 212,
      totalTokens: expect.any(Number),
    });
    const usage = outcome.call.usage;
    expect(usage && usage.promptTokens + usage.outputTokens + usage.thoughtTokens).toBe(usage?.totalTokens);

    expect(fake.calls).toHaveLength(1);
    expect(fake.calls[0]).toMatchObject({
      kind: "edit",
      model: IMAGE_MODEL,
      path: `/v1beta/models/${IMAGE_MODEL}:generateContent`,
      hasKey: true,
      responseModalities: ["IMAGE"],
      prompt: "Put the product on a pure white background.",
      images: [{ mimeType: "image/jpeg", bytes: photo.bytes.length }],
      // The per-attempt timeout reaches Google too, in whole seconds.
      serverTimeout: "5",
    });
  });

  it("returns the real image, not the model's thought images before it", async () => {
    fake.script({ kind: "thought-images", count: 2 });
    const outcome = success(await edit());
    const meta = await sharp(outcome.value.bytes).metadata();
    // The thought images are 256×256 grey; the answer is the bannered photo.
    expect([meta.width, meta.height]).toEqual([400, 300]);
    const [r, g, b] = await pixel(outcome.value.bytes, 3, 3);
    expect([r, g, b].map((c) => (c ?? 0) > 180)).toEqual([true, false, false]);
    expect(outcome.call.usage?.thoughtTokens).toBe(2 * 1290);
    expect(fake.calls).toHaveLength(1);
  });

  it("returns bytes that are not an image as they came: judging them is the engine's job", async () => {
    fake.script({ kind: "not-an-image", bytes: 3000 });
    const outcome = success(await edit());
    expect(outcome.value.mimeType).toBe("image/png");
    expect(outcome.value.bytes.length).toBe(3000);
    await expect(sharp(outcome.value.bytes).metadata()).rejects.toThrow();
    expectAnsweredOnce(outcome.call, IMAGE_MODEL);
    expect(fake.calls).toHaveLength(1);
  });

  it("returns an image of something else as it came: the same-object check is the engine's", async () => {
    fake.script({ kind: "different-object" });
    const outcome = success(await edit());
    const [r, g, b] = await pixel(outcome.value.bytes, 200, 150);
    // A yellow star where the blue square was.
    expect((r ?? 0) > 200 && (g ?? 0) > 180 && (b ?? 255) < 60).toBe(true);
    expect(fake.calls).toHaveLength(1);
  });

  it.each([
    "SAFETY",
    "IMAGE_SAFETY",
    "PROHIBITED_CONTENT",
    "IMAGE_PROHIBITED_CONTENT",
    "BLOCKLIST",
    "SPII",
    "RECITATION",
    "IMAGE_RECITATION",
  ])("finish reason %s is blocked, in one request", async (reason) => {
    fake.script({ kind: "finish", reason });
    const outcome = failure(await edit());
    expect(outcome.kind).toBe("blocked");
    expect(outcome.reason).toContain(reason);
    expectAnsweredOnce(outcome.call, IMAGE_MODEL);
    expect(fake.calls).toHaveLength(1);
  });

  it("a blocked prompt is blocked, in one request", async () => {
    fake.script({ kind: "prompt-blocked", reason: "SAFETY" });
    const outcome = failure(await edit());
    expect(outcome.kind).toBe("blocked");
    expect(outcome.reason).toBe("Gemini blocked the prompt (SAFETY)");
    expect(outcome.call.usage?.promptTokens).toBeGreaterThan(0);
    expect(fake.calls).toHaveLength(1);
  });

  it.each(["NO_IMAGE", "IMAGE_OTHER"])("finish reason %s is no-image, in one request", async (reason) => {
    fake.script({ kind: "finish", reason });
    const outcome = failure(await edit());
    expect(outcome.kind).toBe("no-image");
    expect(outcome.reason).toBe(`Gemini answered without an image (finish reason ${reason})`);
    expect(fake.calls).toHaveLength(1);
  });

  it("a text-only answer is no-image, and says what the model said", async () => {
    fake.script({ kind: "text", text: "I cannot edit photos of this kind." });
    const outcome = failure(await edit());
    expect(outcome.kind).toBe("no-image");
    expect(outcome.reason).toContain('with text only ("I cannot edit photos of this kind.")');
    expectAnsweredOnce(outcome.call, IMAGE_MODEL);
    expect(fake.calls).toHaveLength(1);
  });
});

describe("analyse", () => {
  it("returns the parsed JSON, asked for with the plain JSON schema, in one request", async () => {
    const outcome = success(await analyse());
    // The default analysis, with the schema's required field it lacked filled in.
    expect(outcome.value).toEqual({ ...DEFAULT_ANALYSIS, confidence: 0 });
    expectAnsweredOnce(outcome.call, ANALYSIS_MODEL);
    expect(outcome.call.usage).toMatchObject({ thoughtTokens: 384 });
    expect(fake.calls).toHaveLength(1);
    expect(fake.calls[0]).toMatchObject({
      kind: "analysis",
      model: ANALYSIS_MODEL,
      path: `/v1beta/models/${ANALYSIS_MODEL}:generateContent`,
      responseMimeType: "application/json",
      responseJsonSchema: ANALYSIS_SCHEMA,
    });
  });

  it("returns the fake's overridden answer", async () => {
    fake.script({ kind: "analysis", answer: { problems: ["blur"], product: "leather boot" } });
    const outcome = success(await analyse());
    expect(outcome.value).toMatchObject({
      product: "leather boot",
      problems: ["blur"],
      background: DEFAULT_ANALYSIS.background,
    });
  });

  it("returns JSON that breaks the schema as parsed: validating it is the caller's", async () => {
    fake.script({ kind: "off-schema" });
    const outcome = success(await analyse());
    expect(outcome.value).toEqual({ product: 42, problems: ["sparkles"], recommendedMode: null });
    expect(fake.calls).toHaveLength(1);
  });

  it("an answer that is not JSON is invalid, in one request", async () => {
    fake.script({ kind: "text", text: "Sure! Here is the analysis: a mug." });
    const outcome = failure(await analyse());
    expect(outcome.kind).toBe("invalid");
    expect(outcome.reason).toContain("not JSON");
    expect(outcome.reason).toContain("Sure! Here is the analysis");
    expectAnsweredOnce(outcome.call, ANALYSIS_MODEL);
    expect(fake.calls).toHaveLength(1);
  });

  it("a safety finish is blocked", async () => {
    fake.script({ kind: "finish", reason: "SAFETY" });
    const outcome = failure(await analyse());
    expect(outcome.kind).toBe("blocked");
    expect(fake.calls).toHaveLength(1);
  });
});

describe("errors and retries", () => {
  it("a 429 then an answer: retried once, ok", async () => {
    fake.script({ kind: "error", status: 429 });
    const outcome = success(await edit());
    expect(outcome.call.attempts).toBe(2);
    expect(outcome.call.responseId).not.toBeNull();
    expect(outcome.call.latencyMs).toBeGreaterThanOrEqual(2 * LATENCY_MS);
    expect(fake.calls.map((call) => call.behaviour)).toEqual(["error", "image"]);
  });

  it("a 500 twice then an answer: three requests, ok", async () => {
    fake.script({ kind: "error", status: 500, times: 2 });
    const outcome = success(await analyse());
    expect(outcome.call.attempts).toBe(3);
    expect(fake.calls).toHaveLength(3);
  });

  it("waits as long as Google's RetryInfo asks", async () => {
    fake.script({ kind: "error", status: 429, retryDelaySeconds: 0.3 });
    const started = Date.now();
    const outcome = success(await edit());
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    expect(outcome.call.latencyMs).toBeGreaterThanOrEqual(300);
    expect(fake.calls).toHaveLength(2);
  });

  it("gives up at once when Google asks for a wait beyond the deadline", async () => {
    fake.script({ kind: "error", status: 429, retryDelaySeconds: 30 });
    const outcome = failure(await edit({}, 5));
    expect(outcome.kind).toBe("unavailable");
    expect(outcome.reason).toContain("429 RESOURCE_EXHAUSTED");
    expect(outcome.reason).toContain("Google asked to wait 30.0 s");
    expectUnanswered(outcome.call, 1);
    expect(fake.calls).toHaveLength(1);
  });

  it("503 until the deadline (real back-off timing): several requests, unavailable, never past the deadline", async () => {
    fake.script({ kind: "error", status: 503, times: 1000 });
    const editor = createGeminiEditor(config({ callTimeoutMs: 1_000 }));
    const started = Date.now();
    const deadline = new Date(started + 2_500);
    const outcome = failure(await editor.edit(photo, { prompt: "white background", deadline }));
    const finished = Date.now();
    expect(outcome.kind).toBe("unavailable");
    expect(outcome.reason).toMatch(
      /^Gemini answered 503 UNAVAILABLE: The model is overloaded\. Please try again later\. \(\d+ attempts\); no time for another attempt before the deadline$/,
    );
    // With waits up to 400, 800, 1600 ms, at least three attempts fit in 2.5 s.
    expect(outcome.call.attempts).toBeGreaterThanOrEqual(3);
    expect(fake.calls).toHaveLength(outcome.call.attempts);
    expectUnanswered(outcome.call, outcome.call.attempts);
    expect(finished).toBeLessThanOrEqual(deadline.getTime() + SLACK_MS);
    expect(outcome.call.latencyMs).toBeLessThanOrEqual(finished - started);
  });

  it.each([
    [400, "INVALID_ARGUMENT", "Request contains an invalid argument."],
    [403, "PERMISSION_DENIED", "Method doesn't allow unregistered callers"],
    [404, "NOT_FOUND", `models/${IMAGE_MODEL} is not found for API version v1beta`],
  ])(
    "%i is rejected at once, naming the status and Google's message, never the key",
    async (status, name, message) => {
      fake.script({ kind: "error", status, times: 5 });
      const outcome = failure(await edit());
      expect(outcome.kind).toBe("rejected");
      expect(outcome.reason).toContain(`Gemini refused the request: ${status} ${name}: ${message}`);
      expect(outcome.reason).not.toContain(API_KEY);
      expect(outcome.reason.length).toBeLessThanOrEqual(260);
      expectUnanswered(outcome.call, 1);
      expect(outcome.call.latencyMs).toBeGreaterThanOrEqual(LATENCY_MS);
      expect(fake.calls).toHaveLength(1);
    },
  );

  it("a message that echoes the key is redacted", async () => {
    fake.script({ kind: "error", status: 400, message: `API key not valid: ${API_KEY}` });
    const outcome = failure(await edit());
    expect(outcome.reason).toContain("API key not valid: [api key]");
    expect(outcome.reason).not.toContain(API_KEY);
  });

  it("an answer slower than the timeout: retried while the budget allows, then timeout", async () => {
    fake.script({ kind: "slow", delayMs: 10_000, times: 100 });
    const started = Date.now();
    const deadline = new Date(started + 1_500);
    const outcome = failure(
      await quickEditor({ callTimeoutMs: 400 }).edit(photo, { prompt: "white background", deadline }),
    );
    const finished = Date.now();
    expect(outcome.kind).toBe("timeout");
    expect(outcome.reason).toMatch(
      /^Gemini did not answer within 400 ms \(\d attempts\); no time for another attempt before the deadline$/,
    );
    // 0–400, 400–800, 800–1200 ms; a fourth would need 400 ms more than the deadline leaves (on a loaded
    // machine the third may not fit either).
    expect(outcome.call.attempts).toBeGreaterThanOrEqual(2);
    expect(outcome.call.attempts).toBeLessThanOrEqual(3);
    expect(fake.calls).toHaveLength(outcome.call.attempts);
    expectUnanswered(outcome.call, outcome.call.attempts);
    expect(finished).toBeLessThanOrEqual(deadline.getTime() + SLACK_MS);
  });

  it("a timeout then an answer: ok on the second attempt", async () => {
    fake.script({ kind: "slow", delayMs: 2_000 });
    const outcome = success(await edit({ callTimeoutMs: 500 }));
    expect(outcome.call.attempts).toBe(2);
    expect(fake.calls).toHaveLength(2);
  });

  it("the last attempt is cut to the time left", async () => {
    fake.script({ kind: "slow", delayMs: 5_000 });
    const started = Date.now();
    const outcome = failure(await edit({ callTimeoutMs: 5_000 }, 0.6));
    expect(outcome.kind).toBe("timeout");
    expect(outcome.call.attempts).toBe(1);
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it("a refused connection: retried until the deadline, unavailable", async () => {
    const nowhere = `http://127.0.0.1:${await freePort()}`;
    const started = Date.now();
    const deadline = new Date(started + 1_500);
    const outcome = failure(
      await createGeminiEditor(config({ baseUrl: nowhere, callTimeoutMs: 1_000 })).analyse(photo, {
        prompt: "describe",
        jsonSchema: ANALYSIS_SCHEMA,
        deadline,
      }),
    );
    expect(outcome.kind).toBe("unavailable");
    expect(outcome.reason).toMatch(/^could not reach Gemini \(ECONNREFUSED\)/);
    expect(outcome.call.attempts).toBeGreaterThanOrEqual(2);
    expectUnanswered(outcome.call, outcome.call.attempts);
    expect(Date.now()).toBeLessThanOrEqual(deadline.getTime() + SLACK_MS);
  });

  it("a deadline already past: no request, timeout", async () => {
    const outcome = failure(await edit({}, -1));
    expect(outcome.kind).toBe("timeout");
    expectUnanswered(outcome.call, 0);
    expect(fake.calls).toHaveLength(0);
  });
});

describe("reachability", () => {
  /** A server that accepts connections and never answers. */
  let silent: Server;
  let silentUrl: string;
  const sockets = new Set<Socket>();

  beforeAll(async () => {
    silent = createServer((socket) => {
      sockets.add(socket);
    });
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const address = silent.address();
    silentUrl = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;
  });

  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => silent.close(() => resolve()));
  });

  it("ping: reachable through a model lookup, spending no tokens", async () => {
    expect(await quickEditor().ping(inSeconds(5))).toBe("reachable");
    expect(fake.calls).toEqual([
      expect.objectContaining({ kind: "get", model: ANALYSIS_MODEL, hasKey: true }),
    ]);
  });

  it("ping: reachable even when the key is refused", async () => {
    expect(await quickEditor({ apiKey: "" }).ping(inSeconds(5))).toBe("reachable");
    expect(fake.calls).toEqual([expect.objectContaining({ kind: "get", hasKey: false })]);
  });

  it("ping: unreachable on a closed port or a server that never answers, within the deadline", async () => {
    const closed = `http://127.0.0.1:${await freePort()}`;
    expect(await quickEditor({ baseUrl: closed }).ping(inSeconds(5))).toBe("unreachable");
    const started = Date.now();
    expect(await quickEditor({ baseUrl: silentUrl }).ping(inSeconds(0.5))).toBe("unreachable");
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it("probeGemini: reachable with no key (the fake's 403 is an answer)", async () => {
    expect(await probeGemini({ baseUrl: fake.url, model: ANALYSIS_MODEL, timeoutMs: 2_000 })).toBe(
      "reachable",
    );
    expect(fake.calls).toEqual([
      expect.objectContaining({ kind: "get", model: ANALYSIS_MODEL, hasKey: false }),
    ]);
  });

  it("probeGemini: unreachable on a closed port or a server that never answers, within its timeout", async () => {
    const closed = `http://127.0.0.1:${await freePort()}`;
    expect(await probeGemini({ baseUrl: closed, model: ANALYSIS_MODEL, timeoutMs: 2_000 })).toBe(
      "unreachable",
    );
    const started = Date.now();
    expect(await probeGemini({ baseUrl: silentUrl, model: ANALYSIS_MODEL, timeoutMs: 300 })).toBe(
      "unreachable",
    );
    expect(Date.now() - started).toBeLessThan(1_000);
  });
});

describe("the fake itself", () => {
  it("refuses a request without a key with Google's 403, and does not spend the script on it", async () => {
    fake.script({ kind: "error", status: 503 });
    const response = await fetch(`${fake.url}/v1beta/models/${IMAGE_MODEL}:generateContent`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ contents: [{ role: "user", parts: [{ text: "hi" }] }] }),
    });
    expect(response.status).toBe(403);
    expect(await response.json()).toMatchObject({ error: { code: 403, status: "PERMISSION_DENIED" } });
    // The scripted 503 is still next.
    const outcome = failure(await analyse({}, 0.5));
    expect(outcome.reason).toContain("503");
  });

  it("answers unknown paths with a JSON 404", async () => {
    const response = await fetch(`${fake.url}/v1/models/${IMAGE_MODEL}:generateContent`, {
      method: "POST",
      body: "{}",
    });
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ error: { code: 404, status: "NOT_FOUND" } });
  });
});
