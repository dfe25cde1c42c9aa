import { readFile } from "node:fs/promises";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FakeGemini, startFakeGemini } from "../../local/fake-gemini.ts";
import { mintLocalToken } from "../../local/identity.ts";
import { type LocalStackProcess, startLocalStackProcess } from "../../local/stack-process.ts";
import { dropDatabaseAndAppUser, uniqueDatabaseUrl } from "../support/database.ts";
import { CORPUS, eventually, postUpload } from "../support/upload.ts";

/**
 * `npm start` with `GEMINI_BASE_URL` at the fake (`npm run fake-gemini`), as a person would try the AI step
 * offline, over HTTP only: the photo reaches review with its sharp variants, then gains its AI variants and
 * analysis, and `/health` reports Gemini.
 */
const databaseUrl = uniqueDatabaseUrl("e2e_gemini");
let stack: LocalStackProcess;
let fake: FakeGemini;
let token: string;

const api = async (method: string, path: string, body?: unknown) => {
  const response = await fetch(`${stack.apiUrl}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  // biome-ignore lint/suspicious/noExplicitAny: response bodies are what the assertions examine
  return { status: response.status, body: (await response.json()) as any };
};

beforeAll(async () => {
  fake = await startFakeGemini();
  stack = await startLocalStackProcess({
    DATABASE_URL: databaseUrl,
    GEMINI_API_KEY: "fake",
    GEMINI_BASE_URL: fake.url,
  });
  token = await mintLocalToken(stack.dataDir, { name: "gemini-seller", roles: ["seller"] });
});

afterAll(async () => {
  const code = await stack?.stop();
  await fake?.stop();
  await dropDatabaseAndAppUser(databaseUrl);
  expect(code, `the local stack should stop cleanly:\n${stack?.output()}`).toBe(0);
});

describe("the AI step offline, through npm start and the fake Gemini", () => {
  it("adds AI variants and an analysis after the product reaches review, and reports Gemini healthy", async () => {
    const health = await api("GET", "/health");
    expect(health.body.checks.gemini).toMatchObject({ status: "ok" });

    const created = await api("POST", "/products", {
      products: [
        {
          sku: "AI-E2E",
          title: "Apple",
          category: "fruit",
          mrp: "10",
          price: "9",
          gst: "5",
          contentType: "image/jpeg",
        },
      ],
    });
    const [product] = created.body.products;
    await postUpload(product.upload, await readFile(`${CORPUS}apple.jpg`));
    const done = await eventually(
      async () => {
        const { body } = await api("GET", `/products/${product.id}`);
        const ai = body.images.filter((image: { aiGenerated: boolean }) => image.aiGenerated);
        return body.status === "pending_review" && ai.length === 3 && body.analysis?.ai ? body : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 250, what: "the AI variants" },
    );
    expect(done.analysis.ai).toMatchObject({ model: "gemini-3.8-flash", altText: expect.any(String) });
    const studio = done.images.find((image: { variant: string }) => image.variant === "ai-studio");
    expect(studio).toMatchObject({ needsAttention: false, format: "jpeg" });
    const served = await fetch(studio.url);
    expect(served.status).toBe(200);
    const metadata = await sharp(new Uint8Array(await served.arrayBuffer())).metadata();
    expect(metadata.xmp?.toString()).toContain("trainedAlgorithmicMedia");
    // One analysis and three edits: nothing asked twice.
    expect(
      fake.calls
        .filter((call) => call.kind !== "get")
        .map((call) => call.kind)
        .sort(),
    ).toEqual(["analysis", "edit", "edit", "edit"]);
  });
});
