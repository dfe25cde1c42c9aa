import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { S3Client } from "@aws-sdk/client-s3";
import { createRemoteJWKSet, jwtVerify } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LOCAL_IDENTITY } from "../../lambdas/names.ts";
import { createHttpGateway } from "../../local/http-gateway.ts";
import { generateSigningKey, publicJwks } from "../../local/identity.ts";

/**
 * How the local gateway serves the dashboard beside the API: the page for any non-API path that asks for
 * HTML, hashed bundle files with a long cache, config.json, the development sign-in, and never a page where
 * an API route or a missing file should answer.
 */
let server: Server;
let base: string;
let parent: string;
let dist: string;

const silent = { info() {}, warn() {}, error() {} };

beforeAll(async () => {
  parent = await mkdtemp(join(tmpdir(), "pixel-lab-web-"));
  dist = join(parent, "dist");
  await mkdir(join(dist, "app"), { recursive: true });
  await writeFile(join(parent, "secret.txt"), "not the dashboard's");
  await writeFile(join(dist, "index.html"), "<!doctype html><title>dashboard</title>");
  await writeFile(join(dist, "app", "index-abc123.js"), "console.log(1)");
  await writeFile(join(dist, "favicon.svg"), "<svg/>");
  const key = await generateSigningKey();
  server = createServer(
    createHttpGateway({
      routes: [
        {
          definition: { method: "GET", path: "/products", handler: "list-products", access: "signed-in" },
          handler: async () => ({
            statusCode: 200,
            headers: { "content-type": "application/json" },
            body: "[]",
          }),
        },
        {
          definition: { method: "GET", path: "/products/{id}", handler: "get-product", access: "signed-in" },
          handler: async () => ({
            statusCode: 200,
            headers: { "content-type": "application/json" },
            body: "{}",
          }),
        },
      ],
      allowedOrigins: [],
      assets: { s3: {} as S3Client, bucket: "unused" },
      jwks: publicJwks(key),
      signingKey: key,
      dashboard: { dir: dist, config: { apiUrl: "", signIn: "local" } },
      log: silent,
      timeoutSeconds: 5,
    }),
  );
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  await rm(parent, { recursive: true, force: true });
});

const html = { accept: "text/html,application/xhtml+xml" };

describe("the local gateway serving the dashboard", () => {
  it("serves the page at / and at any non-API path that asks for HTML, never cached", async () => {
    for (const path of ["/", "/gallery", "/product/0b8d5c2e-4f7a-4c1e-9a3b-6d2f8e1c7a90", "/queue?q=mug"]) {
      const response = await fetch(`${base}${path}`, { headers: html });
      expect(response.status, path).toBe(200);
      expect(response.headers.get("content-type")).toBe("text/html; charset=utf-8");
      expect(response.headers.get("cache-control")).toBe("no-cache");
      expect(response.headers.get("content-security-policy")).toContain("default-src 'self'");
      expect(await response.text()).toContain("<title>dashboard</title>");
    }
  });

  it("leaves API routes to the API, whatever the browser accepts", async () => {
    for (const path of ["/products", "/products/0b8d5c2e-4f7a-4c1e-9a3b-6d2f8e1c7a90"]) {
      const response = await fetch(`${base}${path}`, { headers: html });
      expect(response.headers.get("content-type"), path).toBe("application/json");
    }
    // A wrong method on an API path is the API's 405, not the page.
    const posted = await fetch(`${base}/products/x`, { method: "POST", headers: html });
    expect(posted.status).toBe(405);
    expect(
      (await fetch(`${base}${LOCAL_IDENTITY.jwksPath}`, { headers: html })).headers.get("content-type"),
    ).toMatch(/^application\/json/);
  });

  it("answers 404 JSON, not the page, for a path that does not ask for HTML or a missing bundle file", async () => {
    const api = await fetch(`${base}/gallery`, { headers: { accept: "application/json" } });
    expect(api.status).toBe(404);
    const missing = await fetch(`${base}/app/index-gone.js`, { headers: html });
    expect(missing.status).toBe(404);
    expect(missing.headers.get("content-type")).toMatch(/^application\/json/);
    // An encoded slash survives URL parsing, so `..` reaches the gateway: it must not leave the folder.
    const outside = await fetch(`${base}/..%2Fsecret.txt`, { headers: { accept: "*/*" } });
    expect(outside.status).toBe(404);
    expect(await outside.text()).not.toContain("not the dashboard's");
  });

  it("serves hashed bundle files for a year and other files for an hour", async () => {
    const bundle = await fetch(`${base}/app/index-abc123.js`);
    expect(bundle.status).toBe(200);
    expect(bundle.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    expect(bundle.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    const icon = await fetch(`${base}/favicon.svg`);
    expect(icon.headers.get("content-type")).toBe("image/svg+xml");
    expect(icon.headers.get("cache-control")).toBe("public, max-age=3600");
  });

  it("serves config.json describing the local environment", async () => {
    const response = await fetch(`${base}/config.json`);
    expect(response.headers.get("cache-control")).toBe("no-store");
    expect(await response.json()).toEqual({ apiUrl: "", signIn: "local" });
  });

  it("mints a development token the local key set verifies, for a valid name and roles only", async () => {
    const post = (body: unknown, contentType = "application/json") =>
      fetch(`${base}/local/token`, {
        method: "POST",
        headers: { "content-type": contentType },
        body: JSON.stringify(body),
      });
    const response = await post({ name: "alice", roles: ["seller", "reviewer"] });
    expect(response.status).toBe(200);
    const { accessToken, expiresAt } = (await response.json()) as { accessToken: string; expiresAt: string };
    const { payload } = await jwtVerify(
      accessToken,
      createRemoteJWKSet(new URL(`${base}${LOCAL_IDENTITY.jwksPath}`)),
      {
        issuer: LOCAL_IDENTITY.issuer,
      },
    );
    expect(payload.sub).toBe("alice");
    expect(payload["cognito:groups"]).toEqual(["sellers", "reviewers"]);
    expect(Date.parse(expiresAt)).toBe((payload.exp ?? 0) * 1000);

    const refused = await post({ name: "Alice", roles: [] });
    expect(refused.status).toBe(400);
    const { error } = (await refused.json()) as { error: { details: { path: string }[] } };
    expect(error.details.map((detail) => detail.path)).toEqual(["name", "roles"]);
    expect((await post({ name: "alice", roles: ["admin"] })).status).toBe(400);
    expect((await post({ name: "alice", roles: ["seller"], extra: 1 })).status).toBe(400);
    expect((await post({ name: "alice", roles: ["seller"] }, "text/plain")).status).toBe(415);
    expect((await fetch(`${base}/local/token`)).status).toBe(405);
  });
});
