import { readFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { type PushMessage, pushMessageSchema } from "../../lambdas/domain/push.ts";
import { PUSH } from "../../lambdas/names.ts";
import { mintLocalToken } from "../../local/identity.ts";
import { type LocalStackProcess, startLocalStackProcess } from "../../local/stack-process.ts";
import { dropDatabaseAndAppUser, uniqueDatabaseUrl } from "../support/database.ts";
import { CORPUS, eventually, postUpload } from "../support/upload.ts";

/**
 * Push through `npm start`'s stack, over its own port only: a seller's and a reviewer's WebSockets hear a
 * product go to `processing` and `pending_review` (with its variants) as the worker records it, and the
 * seller hears the reviewer's decision; another seller hears none of it.
 */
const databaseUrl = uniqueDatabaseUrl("e2e_push");
let stack: LocalStackProcess;
const sockets: WebSocket[] = [];

beforeAll(async () => {
  stack = await startLocalStackProcess({ DATABASE_URL: databaseUrl });
});

afterAll(async () => {
  for (const socket of sockets) socket.close();
  const code = await stack?.stop();
  await dropDatabaseAndAppUser(databaseUrl);
  expect(code, `the local stack should stop cleanly:\n${stack?.output()}`).toBe(0);
});

interface Heard {
  message: PushMessage;
  at: number;
}

const listen = async (token: string) => {
  const url = `${stack.apiUrl.replace(/^http/, "ws")}${PUSH.localPath}?${PUSH.tokenParameter}=${token}`;
  const socket = new WebSocket(url);
  sockets.push(socket);
  const heard: Heard[] = [];
  socket.on("message", (data) =>
    heard.push({ message: pushMessageSchema.parse(JSON.parse(String(data))), at: performance.now() }),
  );
  await new Promise<void>((resolve, reject) => {
    socket.once("open", () => resolve());
    socket.once("error", reject);
  });
  return heard;
};

const call = async (token: string, method: string, path: string, body?: unknown) => {
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

describe("push through the local stack", () => {
  it("tells the dashboard where to connect", async () => {
    const config = (await (await fetch(`${stack.apiUrl}/config.json`)).json()) as { pushUrl?: string };
    expect(config.pushUrl).toBe(PUSH.localPath);
  });

  it("brings a photo's progress and the review to its seller and the reviewer, and nothing to another seller", async () => {
    const seller = await mintLocalToken(stack.dataDir, { name: "pia", roles: ["seller"] });
    const other = await mintLocalToken(stack.dataDir, { name: "oli", roles: ["seller"] });
    const reviewer = await mintLocalToken(stack.dataDir, { name: "rex", roles: ["reviewer"] });
    const [atSeller, atOther, atReviewer] = await Promise.all([
      listen(seller),
      listen(other),
      listen(reviewer),
    ]);

    const created = await call(seller, "POST", "/products", {
      products: [
        {
          sku: "PUSH-1",
          title: "Pushed apple",
          category: "fruit",
          mrp: "100.00",
          price: "90.00",
          gst: "12",
          contentType: "image/jpeg",
        },
      ],
    });
    expect(created.status).toBe(201);
    const { id, upload } = created.body.products[0];
    const uploaded = await postUpload(upload, await readFile(`${CORPUS}apple.jpg`), "apple.jpg");
    expect(uploaded.status).toBeLessThan(300);
    const uploadedAt = performance.now();

    const inReview = await eventually(
      async () =>
        atSeller.find(({ message }) => message.change.product.status === "pending_review") ?? undefined,
      { timeoutMs: 60_000, what: "pending_review pushed to the seller" },
    );
    const statuses = atSeller.map(({ message }) => message.change.product.status);
    expect(statuses.indexOf("processing")).toBeGreaterThanOrEqual(0);
    expect(statuses.indexOf("processing")).toBeLessThan(statuses.indexOf("pending_review"));
    expect(inReview.message.change.product.id).toBe(id);
    expect(inReview.message.change.product.thumbnailUrl).toMatch(/thumb/);
    expect(inReview.message.change.events.map((event) => event.toStatus)).toContain("pending_review");
    console.info(
      `push: upload → pending_review at the seller's socket in ${Math.round(inReview.at - uploadedAt)} ms`,
    );
    await eventually(
      async () =>
        atReviewer.some(({ message }) => message.change.product.status === "pending_review") || undefined,
      { what: "pending_review pushed to the reviewer" },
    );

    const decided = await call(reviewer, "POST", `/products/${id}/review`, {
      decision: "approve",
      mainImage: "standard",
    });
    expect(decided.status).toBe(200);
    const approved = await eventually(
      async () => atSeller.find(({ message }) => message.change.product.status === "approved"),
      { what: "the approval pushed to the seller" },
    );
    expect(approved.message.change.product.mainImage).toBe("standard");
    expect(approved.message.change.events.at(-1)).toMatchObject({ event: "reviewed", toStatus: "approved" });
    expect(atOther).toEqual([]);
  });
});
