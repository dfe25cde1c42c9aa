import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startUploadCorsFront } from "../../local/upload-cors.ts";

/** The local stand-in for the raw bucket's CORS rule, in front of a storage that answers no CORS. */
const DASHBOARD = "http://127.0.0.1:3000";
let storage: Server;
let front: { url: string; stop(): Promise<void> };
const received: string[] = [];

beforeAll(async () => {
  storage = createServer((request, response) => {
    let body = "";
    request.on("data", (chunk: Buffer) => {
      body += chunk.toString();
    });
    request.on("end", () => {
      received.push(`${request.method} ${request.url} ${body}`);
      response.writeHead(201, { etag: '"abc"' });
      response.end("<PostResponse/>");
    });
  });
  await new Promise<void>((resolve) => storage.listen(0, "127.0.0.1", resolve));
  front = await startUploadCorsFront({
    target: `http://127.0.0.1:${(storage.address() as AddressInfo).port}`,
    allowedOrigins: [DASHBOARD],
    host: "127.0.0.1",
  });
});

afterAll(async () => {
  await front.stop();
  await new Promise<void>((resolve) => storage.close(() => resolve()));
});

const preflight = (origin: string, method = "POST") =>
  fetch(`${front.url}/pixel-lab-local-raw`, {
    method: "OPTIONS",
    headers: {
      origin,
      "access-control-request-method": method,
      "access-control-request-headers": "content-type",
    },
  });

describe("the upload CORS front", () => {
  it("allows a POST from the dashboard's origin, and passes the upload through with the CORS answer", async () => {
    const allowed = await preflight(DASHBOARD);
    expect(allowed.status).toBe(200);
    expect(allowed.headers.get("access-control-allow-origin")).toBe(DASHBOARD);
    expect(allowed.headers.get("access-control-allow-methods")).toBe("POST");
    const upload = await fetch(`${front.url}/pixel-lab-local-raw`, {
      method: "POST",
      headers: { origin: DASHBOARD },
      body: "photo-bytes",
    });
    expect(upload.status).toBe(201);
    expect(await upload.text()).toBe("<PostResponse/>");
    expect(upload.headers.get("access-control-allow-origin")).toBe(DASHBOARD);
    expect(upload.headers.get("access-control-expose-headers")).toBe("ETag, Location");
    expect(received.at(-1)).toBe("POST /pixel-lab-local-raw photo-bytes");
  });

  it("refuses a preflight from another origin or for another method, as S3 does, and sends nothing on", async () => {
    const before = received.length;
    for (const response of [
      await preflight("https://elsewhere.example"),
      await preflight(DASHBOARD, "DELETE"),
    ]) {
      expect(response.status).toBe(403);
      expect(response.headers.get("access-control-allow-origin")).toBeNull();
    }
    expect(received.length).toBe(before);
  });
});
