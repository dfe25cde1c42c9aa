import { readFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mintLocalToken } from "../../local/identity.ts";
import { type LocalStackProcess, startLocalStackProcess } from "../../local/stack-process.ts";
import { dropDatabaseAndAppUser, uniqueDatabaseUrl } from "../support/database.ts";
import { CORPUS, eventually, postUpload } from "../support/upload.ts";

/**
 * Two sellers and a reviewer, signed in with the local stack's own tokens, through `npm start`'s code over
 * HTTP only: one product to approved with its main image, one rejected and back through a re-upload, and
 * each actor sees only what they should along the way.
 */
const databaseUrl = uniqueDatabaseUrl("e2e_review");
let stack: LocalStackProcess;
const tokens: Record<"ann" | "ben" | "rae", string> = { ann: "", ben: "", rae: "" };

const as = async (who: keyof typeof tokens, method: string, path: string, body?: unknown) => {
  const response = await fetch(`${stack.apiUrl}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${tokens[who]}`,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  // biome-ignore lint/suspicious/noExplicitAny: response bodies are what the assertions examine
  return { status: response.status, body: (await response.json()) as any };
};

const product = (sku: string) => ({
  sku,
  title: `Review ${sku}`,
  category: "e2e-review",
  mrp: "100.00",
  price: "80.00",
  gst: "12",
  contentType: "image/jpeg",
});

const settled = (who: keyof typeof tokens, id: string, sequence: number) =>
  eventually(
    async () => {
      const { body } = await as(who, "GET", `/products/${id}`);
      return body.sequence === sequence && ["pending_review", "failed"].includes(body.status)
        ? body
        : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 200, what: `product ${id} to settle` },
  );

const ids = (body: { products: { id: string }[] }) => body.products.map((item) => item.id).sort();

beforeAll(async () => {
  stack = await startLocalStackProcess({ DATABASE_URL: databaseUrl });
  tokens.ann = await mintLocalToken(stack.dataDir, { name: "ann", roles: ["seller"] });
  tokens.ben = await mintLocalToken(stack.dataDir, { name: "ben", roles: ["seller"] });
  tokens.rae = await mintLocalToken(stack.dataDir, { name: "rae", roles: ["reviewer"] });
});

afterAll(async () => {
  const code = await stack?.stop();
  await dropDatabaseAndAppUser(databaseUrl);
  expect(code, `the local stack should stop cleanly:\n${stack?.output()}`).toBe(0);
});

describe("sellers and a reviewer, end to end over HTTP", () => {
  it("serves its key set and its description to anyone, and nothing else without a token", async () => {
    const jwks = (await (await fetch(`${stack.apiUrl}/.well-known/jwks.json`)).json()) as {
      keys: Record<string, unknown>[];
    };
    expect(jwks.keys).toEqual([expect.objectContaining({ kty: "RSA", alg: "RS256", use: "sig" })]);
    expect(jwks.keys[0]?.d).toBeUndefined();
    const description = await fetch(`${stack.apiUrl}/openapi.json`);
    expect(description.status).toBe(200);
    expect(((await description.json()) as { openapi: string }).openapi).toBe("3.1.0");
    expect((await fetch(`${stack.apiUrl}/products`)).status).toBe(401);
  });

  it("walks one product to approved and one through rejection and a re-upload, each actor seeing only theirs", async () => {
    const anns = await as("ann", "POST", "/products", { products: [product("LAMP"), product("VASE")] });
    const bens = await as("ben", "POST", "/products", { products: [product("LAMP")] });
    expect(anns.status).toBe(201);
    expect(bens.status).toBe(201);
    const [lamp, vase] = anns.body.products;
    const [bensLamp] = bens.body.products;
    const photo = await readFile(`${CORPUS}apple.jpg`);
    await postUpload(lamp.upload, photo);
    await postUpload(vase.upload, await readFile(`${CORPUS}orange.jpg`));
    await postUpload(bensLamp.upload, await readFile(`${CORPUS}butterfly.jpg`));
    const reviewedLamp = await settled("ann", lamp.id, 1);
    await settled("ann", vase.id, 1);
    await settled("ben", bensLamp.id, 1);
    expect(reviewedLamp.status).toBe("pending_review");

    // Each seller lists their own; the reviewer's queue holds all three; ann's product is not ben's business.
    expect(ids((await as("ann", "GET", "/products")).body)).toEqual([lamp.id, vase.id].sort());
    expect(ids((await as("ben", "GET", "/products")).body)).toEqual([bensLamp.id]);
    expect((await as("ben", "GET", `/products/${lamp.id}`)).status).toBe(404);
    expect(
      (await as("ben", "POST", `/products/${lamp.id}/uploads`, { contentType: "image/jpeg" })).status,
    ).toBe(404);
    const queue = await as("rae", "GET", "/products?status=pending_review&sort=waiting");
    expect(ids(queue.body)).toEqual([lamp.id, vase.id, bensLamp.id].sort());
    expect(
      (await as("rae", "GET", "/products?seller=ben")).body.products.map((item: { id: string }) => item.id),
    ).toEqual([bensLamp.id]);

    // Sellers cannot decide; the reviewer approves the lamp with one of its variants as the main image.
    const selfApproval = await as("ann", "POST", `/products/${lamp.id}/review`, {
      decision: "approve",
      mainImage: "standard",
    });
    expect(selfApproval.status).toBe(403);
    const mainImage = reviewedLamp.images.find((image: { variant: string }) => image.variant === "standard");
    expect(mainImage).toBeDefined();
    const approved = await as("rae", "POST", `/products/${lamp.id}/review`, {
      decision: "approve",
      mainImage: "standard",
    });
    expect(approved.status).toBe(200);
    const shown = (await as("ann", "GET", `/products/${lamp.id}`)).body;
    expect(shown).toMatchObject({ status: "approved", mainImage: "standard" });
    expect(shown.images.map((image: { url: string }) => image.url)).toContain(mainImage.url);
    expect((await fetch(mainImage.url)).status).toBe(200);

    // The vase is rejected with a reason the seller reads, and goes round again with a new photo.
    const reason = "The vase is cropped at the top; show all of it.";
    const rejected = await as("rae", "POST", "/reviews", {
      reviews: [{ id: vase.id, decision: "reject", reason }],
    });
    expect(rejected.body.results).toEqual([{ id: vase.id, status: "rejected" }]);
    expect((await as("ann", "GET", `/products/${vase.id}`)).body).toMatchObject({
      status: "rejected",
      statusReason: reason,
    });
    const again = await as("ann", "POST", `/products/${vase.id}/uploads`, { contentType: "image/jpeg" });
    expect(again.status).toBe(201);
    await postUpload(again.body.upload, await readFile(`${CORPUS}TwoWings.jpg`));
    const resubmitted = await settled("ann", vase.id, 2);
    expect(resubmitted).toMatchObject({ status: "pending_review", statusReason: null, mainImage: null });

    // The history tells who decided what, and why.
    const history = (await as("ann", "GET", `/products/${vase.id}/history?limit=100`)).body.history as {
      event: string;
      toStatus: string | null;
      actor: string | null;
      reason: string | null;
    }[];
    expect(history).toContainEqual(
      expect.objectContaining({ event: "reviewed", toStatus: "rejected", actor: "rae", reason }),
    );
    expect(history.filter((entry) => entry.toStatus !== null).at(-1)).toMatchObject({
      toStatus: "pending_review",
    });
    expect((await as("ben", "GET", `/products/${vase.id}/history`)).status).toBe(404);
  });
});
