import { readFile } from "node:fs/promises";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PUSH } from "../../lambdas/names.ts";
import { callApi, uploadPhoto } from "../../local/client.ts";
import { mintLocalToken } from "../../local/identity.ts";
import { type LocalStackProcess, startLocalStackProcess } from "../../local/stack-process.ts";
import { cardInReview, chromiumMissing, launchChromium } from "../support/browser.ts";
import { dropDatabaseAndAppUser, uniqueDatabaseUrl } from "../support/database.ts";
import { CORPUS } from "../support/upload.ts";

/**
 * Live progress when push fails: with the WebSocket cut (Playwright routes it and closes it), an open gallery
 * still shows a product reach review, by the changes feed polling every second; once push is back, the page
 * reconnects by itself, the feed slows to its 30 s safety poll, and the next product reaches the page with no
 * `GET /changes` in between: by push alone.
 */
const databaseUrl = uniqueDatabaseUrl("browser_live");
const SELLER = "live-seller";
let stack: LocalStackProcess;
let browser: Browser;

beforeAll(async () => {
  if (chromiumMissing) return;
  stack = await startLocalStackProcess({ DATABASE_URL: databaseUrl });
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  if (!stack) return;
  const code = await stack.stop();
  await dropDatabaseAndAppUser(databaseUrl);
  expect(code, `the local stack should stop cleanly:\n${stack.output()}`).toBe(0);
});

interface Created {
  products: { sku: string; upload: { url: string; fields: Record<string, string> } | null }[];
}

describe("live progress when push is down", () => {
  it("follows the feed while the WebSocket is cut, and push alone once it is back", async () => {
    if (chromiumMissing) throw new Error(chromiumMissing);
    const token = await mintLocalToken(stack.dataDir, { name: SELLER, roles: ["seller"] });
    const created = await callApi<Created>({ url: stack.apiUrl, token }, "POST", "/products", {
      products: ["apple", "orange"].map((name) => ({
        sku: `LIVE-${name.toUpperCase()}`,
        title: `Live ${name}`,
        category: "live",
        mrp: "100.00",
        price: "90.00",
        gst: "12",
        contentType: "image/jpeg",
      })),
    });
    const [apple, orange] = created.products;
    if (!apple?.upload || !orange?.upload) throw new Error("no upload tickets");

    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    let pushUp = false;
    let pushedMessages = 0;
    await context.routeWebSocket(
      (url) => url.pathname === PUSH.localPath,
      (socket) => {
        if (!pushUp) {
          socket.close({ code: 1011, reason: "push is down" });
          return;
        }
        const server = socket.connectToServer();
        server.onMessage((message) => {
          pushedMessages += 1;
          socket.send(message);
        });
      },
    );
    const feedCalls: number[] = [];
    const page = await context.newPage();
    page.on("request", (request) => {
      if (new URL(request.url()).pathname === "/changes") feedCalls.push(Date.now());
    });
    const errors: string[] = [];
    page.on("pageerror", (error) => errors.push(error.message));

    await page.goto(`${stack.apiUrl}/gallery`);
    await page.getByRole("radio", { name: /^Seller/ }).check();
    await page.getByLabel("Name").fill(SELLER);
    await page.getByRole("button", { name: "Sign in" }).click();
    const cards = page.getByRole("list", { name: "Products" }).getByRole("listitem");
    await expect.poll(() => cards.filter({ hasText: "Awaiting photo" }).count()).toBe(2);

    // Push is down: the product reaches the page all the same, by the feed, which polls every second.
    await expect.poll(() => page.evaluate("document.documentElement.dataset.live")).toBe("feed");
    await uploadPhoto(apple.upload, await readFile(`${CORPUS}apple.jpg`), "apple.jpg");
    await cardInReview(page, apple.sku);
    expect(pushedMessages).toBe(0);
    const before = feedCalls.length;
    await page.waitForTimeout(3000);
    expect(feedCalls.length - before).toBeGreaterThanOrEqual(2);

    // Push is back: the page reconnects by itself and the feed slows down.
    pushUp = true;
    await expect
      .poll(() => page.evaluate("document.documentElement.dataset.live"), { timeout: 40_000 })
      .toBe("push");
    await page.waitForTimeout(1000);
    const quietFrom = feedCalls.length;
    await page.waitForTimeout(4000);
    expect(feedCalls.length - quietFrom).toBe(0);

    const asked = feedCalls.length;
    await uploadPhoto(orange.upload, await readFile(`${CORPUS}orange.jpg`), "orange.jpg");
    await cardInReview(page, orange.sku);
    expect(pushedMessages).toBeGreaterThan(0);
    expect(feedCalls.length, "no GET /changes between the upload and the page showing it").toBe(asked);
    expect(errors).toEqual([]);
    await context.close();
  }, 150_000);
});
