import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ENV } from "../../lambdas/names.ts";
import { startApiServer } from "../support/api-server.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { testApiDeps } from "../support/deps.ts";
import { startTestEmulator, type TestEmulator } from "../support/emulator.ts";
import { authAs } from "../support/identity.ts";

/**
 * The edges a browser or a newcomer's script meets over HTTP, through the local gateway and the handlers:
 * CORS from configuration, the body limit, malformed JSON, product ids in any case.
 */
const DASHBOARD = "https://dashboard.example.test";
const ELSEWHERE = "https://elsewhere.example.test";
const MB = 1024 * 1024;

let database: TestDatabase;
let emulator: TestEmulator;
let api: { url: string; close(): Promise<void> };
const savedOrigins = process.env[ENV.allowedOrigins];

/** Signed in as a seller: these edges are the gateway's and the handlers' own, past the token check. */
const request = async (method: string, path: string, init: RequestInit = {}) => {
  const response = await fetch(`${api.url}${path}`, {
    method,
    ...init,
    headers: { ...(await authAs("edges-seller", "seller")), ...(init.headers as Record<string, string>) },
  });
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    text,
    body: text ? JSON.parse(text) : undefined,
  };
};

const product = (sku: string) => ({
  sku,
  title: `Mug ${sku}`,
  category: "kitchen",
  mrp: "10.00",
  price: "9.00",
  gst: "18",
  contentType: "image/jpeg",
});

const createProduct = async (sku: string): Promise<string> => {
  const created = await request("POST", "/products", {
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ products: [product(sku)] }),
  });
  expect(created.status).toBe(201);
  return created.body.products[0].id;
};

beforeAll(async () => {
  // The handlers and the gateway read ALLOWED_ORIGINS as the Lambdas and the local stack do.
  process.env[ENV.allowedOrigins] = `${DASHBOARD},http://127.0.0.1:5173`;
  database = await createTestDatabase("http_edges");
  emulator = await startTestEmulator();
  api = await startApiServer(testApiDeps(database, emulator), {
    s3: emulator.s3,
    bucket: emulator.enhancedBucket,
  });
});

afterAll(async () => {
  if (savedOrigins === undefined) delete process.env[ENV.allowedOrigins];
  else process.env[ENV.allowedOrigins] = savedOrigins;
  await api.close();
  await emulator.stop();
  await database.drop();
});

describe("CORS, from ALLOWED_ORIGINS", () => {
  const preflight = (origin: string) =>
    request("OPTIONS", "/products", {
      headers: {
        origin,
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type",
      },
    });

  it("answers a preflight from an allowed origin with that origin", async () => {
    const response = await preflight(DASHBOARD);
    expect(response.status).toBe(204);
    expect(response.headers.get("access-control-allow-origin")).toBe(DASHBOARD);
    expect(response.headers.get("access-control-allow-methods")).toContain("POST");
    expect(response.headers.get("access-control-allow-headers")).toContain("content-type");
    expect(response.headers.get("vary")).toContain("Origin");
  });

  it("answers a preflight from any other origin without access-control-allow-origin", async () => {
    const response = await preflight(ELSEWHERE);
    expect(response.headers.get("access-control-allow-origin")).toBeNull();
    expect(response.headers.get("access-control-allow-methods")).toBeNull();
  });

  it("names an allowed origin on the answer itself, errors included, and no other origin", async () => {
    const health = await request("GET", "/health", { headers: { origin: DASHBOARD } });
    expect(health.headers.get("access-control-allow-origin")).toBe(DASHBOARD);
    expect(health.headers.get("vary")).toContain("Origin");
    const missing = await request("GET", "/products/not-an-id", { headers: { origin: DASHBOARD } });
    expect(missing.status).toBe(404);
    expect(missing.headers.get("access-control-allow-origin")).toBe(DASHBOARD);

    const other = await request("GET", "/health", { headers: { origin: ELSEWHERE } });
    expect(other.status).toBe(200);
    expect(other.headers.get("access-control-allow-origin")).toBeNull();
    const none = await request("GET", "/health");
    expect(none.headers.get("access-control-allow-origin")).toBeNull();
  });
});

describe("a body over the limit", () => {
  const expectTooLarge = (response: Awaited<ReturnType<typeof request>>) => {
    expect(response.status).toBe(413);
    expect(response.headers.get("connection")).toBe("close");
    expect(response.body.error).toMatchObject({ code: "PAYLOAD_TOO_LARGE", details: [] });
    expect(response.body.error.message).toContain("10 MB");
  };

  it("gets a 413 JSON error when its length is declared, and the server goes on serving", async () => {
    const response = await request("POST", "/products", {
      headers: { "content-type": "application/json" },
      body: Buffer.alloc(11 * MB, "x"),
    });
    expectTooLarge(response);
    expect((await request("GET", "/health")).status).toBe(200);
  });

  it("gets a 413 JSON error when it is streamed without a length", async () => {
    const chunk = new Uint8Array(MB).fill(120);
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent >= 12) return controller.close();
        sent += 1;
        controller.enqueue(chunk);
      },
    });
    const response = await request("POST", "/products", {
      headers: { "content-type": "application/json" },
      body,
      duplex: "half",
    } as RequestInit);
    expectTooLarge(response);
  });
});

describe("malformed JSON", () => {
  it("is a 400 MALFORMED_JSON, not middy's 422", async () => {
    const response = await request("POST", "/products", {
      headers: { "content-type": "application/json" },
      body: '{"products": [',
    });
    expect(response.status).toBe(400);
    expect(response.body).toEqual({
      error: { code: "MALFORMED_JSON", message: "the request body is not valid JSON", details: [] },
    });
  });
});

describe("a product id in any case", () => {
  it("finds the same product and answers with the id in its canonical lower-case form", async () => {
    const id = await createProduct("CASE-1");
    expect(id).toBe(id.toLowerCase());
    const upper = id.toUpperCase();
    const mixed = id.replace(/[a-f]/g, (letter, index: number) =>
      index % 2 ? letter.toUpperCase() : letter,
    );

    const found = await request("GET", `/products/${upper}`);
    expect(found.status).toBe(200);
    expect(found.body.id).toBe(id);

    const upload = await request("POST", `/products/${mixed}/uploads`, {
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ contentType: "image/png" }),
    });
    expect(upload.status).toBe(201);
    expect(upload.body.upload.key).toMatch(new RegExp(`^raw/${id}/`));

    expect((await request("GET", `/products/${upper}/history`)).status).toBe(200);
    expect((await request("GET", `/products/${upper}/duplicates`)).status).toBe(200);
  });

  it("is still a 404 when it is no product id at all", async () => {
    const response = await request("GET", "/products/NOT-A-UUID");
    expect(response.status).toBe(404);
    expect(response.body.error.message).toBe("product NOT-A-UUID does not exist");
  });
});
