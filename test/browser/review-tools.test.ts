import { mkdir, readFile } from "node:fs/promises";
import AxeBuilder from "@axe-core/playwright";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { callApi, uploadPhoto } from "../../local/client.ts";
import { mintLocalToken } from "../../local/identity.ts";
import { type LocalStackProcess, startLocalStackProcess } from "../../local/stack-process.ts";
import {
  AXE_TAGS,
  chromiumMissing,
  launchChromium,
  requireChromium,
  seriousViolations,
} from "../support/browser.ts";
import { dropDatabaseAndAppUser, uniqueDatabaseUrl } from "../support/database.ts";
import { CORPUS, eventually } from "../support/upload.ts";

/**
 * The reviewer's tools in a real browser, against `npm start`'s stack in a child process (its own database):
 * the seller's original beside each variant (a presigned GET from storage), the comparison slider moved by
 * keyboard, zoom and backdrops, the scores before and after; a decision held for undo (`u` inside the window
 * leaves the product in review, one left alone lands after the window, one whose tab closes lands at once);
 * the next product prefetched while the reviewer looks at the current one; and bulk approve of selected rows
 * in one `POST /reviews`, with each product's result. Every new state is checked with axe at 1280 and 390 px
 * and photographed (`test/browser/artifacts/review-compare-*.png`); any console error, failed request or
 * unexpected 4xx/5xx fails the test.
 */
const ARTIFACTS = new URL("./artifacts/", import.meta.url).pathname;
const DESKTOP = { width: 1280, height: 900 };
const PHONE = { width: 390, height: 844 };
const REVIEWER = "tools-reviewer";
const UNDO_WINDOW_MS = 5_000;
/** How long a page may take to show what it loads, on a machine busy with other tests. */
const SLOW = { timeout: 15_000 };

const databaseUrl = uniqueDatabaseUrl("review_tools");
let stack: LocalStackProcess;
let browser: Browser;
let reviewerToken: string;

interface Created {
  products: { id: string; sku: string; upload: { url: string; fields: Record<string, string> } | null }[];
}
type Product = { id: string; status: string; mainImage: string | null; sku: string; title: string };

const productOf = (id: string) =>
  callApi<Product>({ url: stack.apiUrl, token: reviewerToken }, "GET", `/products/${id}`);

/** A seller's products, one per photo, uploaded and processed to `pending_review`. */
const seed = async (seller: string, photos: string[]): Promise<Product[]> => {
  const token = await mintLocalToken(stack.dataDir, { name: seller, roles: ["seller"] });
  const created = await callApi<Created>({ url: stack.apiUrl, token }, "POST", "/products", {
    products: photos.map((photo, index) => ({
      sku: `${seller.toUpperCase()}-${index}`,
      title: `${seller} ${photo.replace(/\..*$/, "")}`,
      category: "tools",
      mrp: "100.00",
      price: "90.00",
      gst: "12",
      contentType: photo.endsWith(".png") ? "image/png" : "image/jpeg",
    })),
  });
  await Promise.all(
    created.products.map(async (product, index) => {
      const photo = photos[index] ?? "";
      if (!product.upload) throw new Error(`product ${index} has no upload`);
      await uploadPhoto(product.upload, await readFile(`${CORPUS}${photo}`), photo);
    }),
  );
  const products: Product[] = [];
  for (const { id } of created.products) {
    products.push(
      await eventually(
        async () => {
          const product = await productOf(id);
          return product.status === "pending_review" ? product : undefined;
        },
        { timeoutMs: 90_000, intervalMs: 250, what: `${id} in review` },
      ),
    );
  }
  return products;
};

/**
 * Everything the page does that a user would call broken, collected as it happens; `expected` is the one
 * refusal a test provokes on purpose (Chromium also logs it as a console error).
 */
const watch = (page: Page, expected?: { status: number; path: string }) => {
  const problems: string[] = [];
  const isExpected = (url: string, status: number) =>
    expected !== undefined && status === expected.status && new URL(url).pathname === expected.path;
  page.on("console", (message) => {
    if (expected && message.text().includes(`status of ${expected.status}`)) return;
    if (message.type() === "error") problems.push(`console error: ${message.text()}`);
  });
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  page.on("requestfailed", (request) => {
    // Leaving a page cancels the changes feed's call in flight: the page's own doing.
    const aborted = request.failure()?.errorText === "net::ERR_ABORTED";
    if (aborted && new URL(request.url()).pathname === "/changes") return;
    problems.push(`request failed: ${request.method()} ${request.url()} (${request.failure()?.errorText})`);
  });
  page.on("response", (response) => {
    if (response.status() >= 400 && !isExpected(response.url(), response.status()))
      problems.push(`${response.status()} for ${response.request().method()} ${response.url()}`);
  });
  return problems;
};

/**
 * Pauses the page's clock (installed on its context) at about its own now, not this process's: the two need
 * not agree, and a busy machine may let the page's time pass a small margin before the call lands.
 */
const pauseNow = async (page: Page) => {
  for (const margin of [20, 100, 400, 1_000]) {
    const now = await page.evaluate(() => Date.now());
    try {
      await page.clock.pauseAt(now + margin);
      return;
    } catch (error) {
      if (!String(error).includes("fast-forward to the past")) throw error;
    }
  }
  throw new Error("the page's clock could not be paused");
};

/**
 * axe on the page as it is now: no serious or critical violation; then a full-page screenshot. With
 * `pausedClock` (a context whose clock is installed), the page's time stands still meanwhile, so a state that
 * lasts seconds (a decision held for undo) is what axe sees however long it takes; axe's own timers are
 * stepped a few milliseconds at a time.
 */
const checkView = async (page: Page, name: string, pausedClock = false) => {
  if (pausedClock) await pauseNow(page);
  await page.waitForLoadState("networkidle");
  let analysed = false;
  const analysis = new AxeBuilder({ page })
    .withTags(AXE_TAGS)
    .analyze()
    .finally(() => {
      analysed = true;
    });
  if (pausedClock) while (!analysed) await page.clock.runFor(5);
  const results = await analysis;
  const severe = seriousViolations(results);
  expect(severe, `axe on ${name}`).toEqual([]);
  await page.screenshot({ path: `${ARTIFACTS}review-compare-${name}.png`, fullPage: true });
  if (pausedClock) await page.clock.resume();
};

/** Every image on the page scrolled into view (they are lazy) and decoded. */
const allImagesLoad = async (page: Page) => {
  const images = page.locator("main img");
  const count = await images.count();
  for (let index = 0; index < count; index += 1) await images.nth(index).scrollIntoViewIfNeeded();
  // The callback runs in the page; this project's TypeScript has no DOM types, so it names the two fields.
  await expect
    .poll(
      () =>
        images.evaluateAll((elements) =>
          elements.every((element) => {
            const image = element as unknown as { complete: boolean; naturalWidth: number };
            return image.complete && image.naturalWidth > 0;
          }),
        ),
      { timeout: 15_000 },
    )
    .toBe(true);
  return count;
};

const signIn = async (page: Page, next: string) => {
  await page.goto(`${stack.apiUrl}${next}`);
  await expect
    .poll(() => page.getByRole("heading", { level: 1 }).textContent(), { timeout: 20_000 })
    .toBe("Sign in");
  await page.getByRole("radio", { name: /^Reviewer/ }).check();
  await page.getByLabel("Name").fill(REVIEWER);
  await page.getByRole("button", { name: "Sign in" }).click();
};

const heading = (page: Page) => () => page.getByRole("heading", { level: 1 }).textContent();

let compared: Product[];
let undone: Product[];
let bulk: Product[];
let contested: Product[];

beforeAll(async () => {
  if (chromiumMissing) return;
  await mkdir(ARTIFACTS, { recursive: true });
  stack = await startLocalStackProcess({ DATABASE_URL: databaseUrl, LOCAL_VISIBILITY_TIMEOUT_SECONDS: "5" });
  browser = await launchChromium();
  reviewerToken = await mintLocalToken(stack.dataDir, { name: REVIEWER, roles: ["reviewer"] });
  [compared, undone, bulk, contested] = await Promise.all([
    seed("tools-compare", ["apple.jpg"]),
    seed("tools-undo", ["orange.jpg", "fruits.jpg", "plant.jpg"]),
    seed("tools-bulk", ["butterfly.jpg", "stuff.jpg", "Wood.jpg"]),
    seed("tools-conflict", ["aloeL.jpg"]),
  ]);
}, 240_000);

afterAll(async () => {
  await browser?.close();
  if (!stack) return;
  const code = await stack.stop();
  await dropDatabaseAndAppUser(databaseUrl);
  expect(code, `the local stack should stop cleanly on Ctrl-C:\n${stack.output()}`).toBe(0);
});

describe("the reviewer's tools", () => {
  it("shows the original beside each variant, with a keyboard slider, zoom, backdrops and scores before and after", async () => {
    requireChromium();
    const [product] = compared;
    if (!product) throw new Error("no product to compare");
    const context = await browser.newContext({ viewport: DESKTOP });
    const page = await context.newPage();
    const problems = watch(page);
    await signIn(page, `/product/${product.id}`);
    await expect.poll(heading(page), SLOW).toBe(product.title);
    const compare = page.getByRole("region", { name: "Compare with the original" });

    // The original comes from storage (a presigned GET), not from this origin, beside all four variants.
    const sideBySide = compare.locator(".side-by-side img");
    await expect.poll(() => sideBySide.count(), SLOW).toBe(5);
    const original = compare.getByRole("img", { name: `${product.title}: the original`, exact: true });
    const originalUrl = new URL((await original.getAttribute("src")) ?? "");
    expect(originalUrl.origin).not.toBe(new URL(stack.apiUrl).origin);
    expect(originalUrl.searchParams.get("X-Amz-Signature")).toMatch(/^[0-9a-f]{64}$/);
    for (const image of await compare.locator("img").all()) {
      expect(await image.getAttribute("loading")).toBe("lazy");
      expect(Number(await image.getAttribute("width"))).toBeGreaterThan(0);
      expect(Number(await image.getAttribute("height"))).toBeGreaterThan(0);
    }
    await allImagesLoad(page);
    const originalBytes = await page.evaluate(async (url) => (await fetch(url)).status, originalUrl.href);
    expect(originalBytes).toBe(200);

    // The slider, by keyboard: Home shows none of the original, End all of it, each arrow 1%.
    const slider = compare.getByRole("slider");
    const before = compare.locator("img.compare-before");
    const clip = () =>
      before.evaluate((element) => (element as unknown as { style: { clipPath: string } }).style.clipPath);
    expect(await clip()).toBe("inset(0px 50% 0px 0px)");
    await slider.focus();
    await page.keyboard.press("Home");
    expect(await clip()).toBe("inset(0px 100% 0px 0px)");
    await page.keyboard.press("End");
    expect(await clip()).toBe("inset(0px 0% 0px 0px)");
    for (let step = 0; step < 3; step += 1) await page.keyboard.press("ArrowLeft");
    expect(await clip()).toBe("inset(0px 3% 0px 0px)");
    expect(await slider.getAttribute("aria-valuetext")).toBe("97% the original, 3% standard");
    // The divider is where the slider says, in pixels too.
    const stage = compare.locator(".compare-stage");
    const stageBox = await stage.boundingBox();
    const dividerBox = await compare.locator(".compare-divider").boundingBox();
    if (!stageBox || !dividerBox) throw new Error("the comparison is not laid out");
    expect(Math.abs(dividerBox.x - stageBox.x - stageBox.width * 0.97)).toBeLessThan(3);
    expect(await compare.locator("img.compare-after").getAttribute("src")).toMatch(/\/standard\.jpg$/);
    await compare.getByLabel(/^Compare the original with/).selectOption("web");
    expect(await compare.locator("img.compare-after").getAttribute("src")).toMatch(/\/web\.webp$/);
    await compare.getByLabel(/^Compare the original with/).selectOption("standard");
    await slider.focus();
    await page.keyboard.press("Home");
    for (let step = 0; step < 50; step += 1) await page.keyboard.press("ArrowRight");
    expect(await clip()).toBe("inset(0px 50% 0px 0px)");
    await checkView(page, "desktop");

    // Zoom: the image is drawn 2× and 4× as wide, and the view pans by keyboard.
    const width1 = stageBox.width;
    await compare.getByRole("radio", { name: "2×" }).check();
    await expect.poll(async () => ((await stage.boundingBox())?.width ?? 0) / width1, SLOW).toBeCloseTo(2, 1);
    await compare.getByRole("radio", { name: "4×" }).check();
    await expect.poll(async () => ((await stage.boundingBox())?.width ?? 0) / width1, SLOW).toBeCloseTo(4, 1);
    const view = compare.getByRole("region", { name: /^Comparison at 4×/ });
    const scrollLeft = () =>
      view.evaluate((element) => (element as unknown as { scrollLeft: number }).scrollLeft);
    const panStart = await scrollLeft();
    await view.focus();
    for (let step = 0; step < 5; step += 1) await page.keyboard.press("ArrowRight");
    await expect.poll(scrollLeft, SLOW).toBeGreaterThan(panStart);
    await checkView(page, "zoom-desktop");
    await compare.getByRole("radio", { name: "1×" }).check();
    await expect.poll(async () => ((await stage.boundingBox())?.width ?? 0) / width1, SLOW).toBeCloseTo(1, 1);

    // Backdrops behind the images: black, and a checkerboard for a cut-out's edges.
    const backgroundOf = (selector: string) =>
      compare.locator(selector).evaluate((element) => {
        const style = (
          globalThis as unknown as {
            getComputedStyle(e: unknown): { backgroundColor: string; backgroundImage: string };
          }
        ).getComputedStyle(element);
        return `${style.backgroundColor} ${style.backgroundImage}`;
      });
    expect(await backgroundOf(".compare-view")).toMatch(/^rgb\(255, 255, 255\) none/);
    await compare.getByRole("radio", { name: "Black" }).check();
    expect(await backgroundOf(".compare-view")).toMatch(/^rgb\(0, 0, 0\) none/);
    expect(await backgroundOf(".side-by-side")).toMatch(/^rgb\(0, 0, 0\)/);
    await compare.getByRole("radio", { name: "Checkerboard" }).check();
    expect(await backgroundOf(".compare-view")).toMatch(/conic-gradient/);

    // The scores: the original's and each variant's, from the same engine, side by side.
    const table = compare.getByRole("table");
    const headers = await table.getByRole("columnheader").allTextContents();
    expect(headers.slice(0, 2)).toEqual(["Score", "original"]);
    expect(headers.slice(2).sort()).toEqual(["enhanced", "standard", "thumb", "web"]);
    const overall = await table
      .getByRole("row", { name: /^overall/ })
      .getByRole("cell")
      .allTextContents();
    expect(overall).toHaveLength(5);
    for (const cell of overall) expect(cell).toMatch(/^\d+/);
    const api = await productOf(product.id);
    expect(api.status).toBe("pending_review");
    await checkView(page, "checkerboard-desktop");

    await page.setViewportSize(PHONE);
    await checkView(page, "phone");
    expect(problems).toEqual([]);
    await context.close();
  }, 300_000);

  it("holds a decision for undo: u leaves the product in review, one left alone lands after the window, the next product is already loaded", async () => {
    requireChromium();
    const context = await browser.newContext({ viewport: DESKTOP });
    // Time runs as usual; the clock is paused once, for axe on the held decision.
    await context.clock.install();
    const page = await context.newPage();
    const problems = watch(page);
    const productLoads: { id: string; at: number }[] = [];
    page.on("request", (request) => {
      const match = /^\/products\/([0-9a-f-]{36})$/.exec(new URL(request.url()).pathname);
      if (request.method() === "GET" && match?.[1]) productLoads.push({ id: match[1], at: Date.now() });
    });
    const decisions: string[] = [];
    page.on("request", (request) => {
      if (request.method() === "POST" && new URL(request.url()).pathname.endsWith("/review"))
        decisions.push(new URL(request.url()).pathname);
    });
    await signIn(page, "/queue?seller=tools-undo");
    await expect.poll(heading(page), SLOW).toBe("Review queue");
    const rows = page.getByRole("list", { name: /waiting for review/ }).getByRole("listitem");
    await expect.poll(() => rows.count(), SLOW).toBe(3);
    const order = await rows.locator("a.row-title").allTextContents();
    const idOf = (title: string | undefined) =>
      undone.find((product) => product.title === title)?.id ?? "missing";
    const [first, second, third] = order;

    await page.keyboard.press("j");
    await page.keyboard.press("Enter");
    await expect.poll(heading(page), SLOW).toBe(first);
    // While the reviewer looks at the first product, the second is fetched.
    await expect.poll(() => productLoads.filter((load) => load.id === idOf(second)).length, SLOW).toBe(1);
    const panel = page.getByRole("region", { name: "Decision" });
    await expect.poll(() => panel.getByRole("radio").count(), SLOW).toBeGreaterThan(0);

    // Approve, then u inside the window: nothing is sent, and the product is shown again, still in review.
    await page.keyboard.press("a");
    await page.keyboard.press("Space");
    const chosen = await panel.getByRole("radio", { checked: true }).getAttribute("value");
    await page.keyboard.press("a");
    const decidedAt = Date.now();
    await expect.poll(heading(page), SLOW).toBe(second);
    const openedIn = Date.now() - decidedAt;
    // The second product came from the prefetch: no new request for it.
    expect(productLoads.filter((load) => load.id === idOf(second))).toHaveLength(1);
    const toast = page.getByTestId("held-decision");
    expect(await toast.textContent()).toContain(`Approved ${undone.find((p) => p.title === first)?.sku}`);
    await page.keyboard.press("u");
    expect(Date.now() - decidedAt).toBeLessThan(UNDO_WINDOW_MS);
    await expect.poll(heading(page), SLOW).toBe(first);
    await expect
      .poll(() => page.locator("[aria-live=polite]").textContent())
      .toMatch(/Undone: .* stays in review/);
    await new Promise((resolve) => setTimeout(resolve, UNDO_WINDOW_MS + 1_500));
    expect((await productOf(idOf(first))).status).toBe("pending_review");
    expect(decisions).toEqual([]);

    // Approve again and leave it: still in review inside the window, approved after it, as chosen.
    await expect.poll(() => panel.getByRole("radio").count(), SLOW).toBeGreaterThan(0);
    await page.keyboard.press("a");
    await page.keyboard.press("Space");
    await page.keyboard.press("a");
    const sentAt = Date.now();
    await expect.poll(heading(page), SLOW).toBe(second);
    expect((await productOf(idOf(first))).status).toBe("pending_review");
    // The held decision's toast, with its countdown and Undo, checked by axe with the page's clock paused (axe
    // can take longer than the window on a busy machine), then the clock runs on.
    expect(await toast.count()).toBe(1);
    await checkView(page, "undo-toast-desktop", true);
    expect(await toast.count()).toBe(1);
    await expect
      .poll(async () => (await productOf(idOf(first))).status, {
        timeout: UNDO_WINDOW_MS + 10_000,
        interval: 200,
      })
      .toBe("approved");
    expect(Date.now() - sentAt).toBeGreaterThanOrEqual(UNDO_WINDOW_MS - 500);
    expect(await productOf(idOf(first))).toMatchObject({ mainImage: chosen });
    expect(decisions).toEqual([`/products/${idOf(first)}/review`]);
    await expect
      .poll(() => page.locator(".decision-toast", { hasText: "is now approved" }).count(), SLOW)
      .toBe(1);
    await checkView(page, "undo-sent-desktop");

    // A decision whose tab closes inside the window is sent at once (keepalive), not lost.
    await expect.poll(() => panel.getByRole("radio").count(), SLOW).toBeGreaterThan(0);
    await page.keyboard.press("r");
    await page.keyboard.type("Photo is blurred");
    await page.keyboard.press("Control+Enter");
    await expect.poll(heading(page), SLOW).toBe(third);
    const closedAt = Date.now();
    expect(problems).toEqual([]);
    await page.close({ runBeforeUnload: true });
    await expect
      .poll(async () => (await productOf(idOf(second))).status, { timeout: 10_000, interval: 100 })
      .toBe("rejected");
    expect(Date.now() - closedAt).toBeLessThan(UNDO_WINDOW_MS);
    console.log(`next product shown ${openedIn} ms after a decision (prefetched)`);
    await context.close();
  }, 300_000);

  it("approves selected products in one request, each with its main image, and shows each result", async () => {
    requireChromium();
    const context = await browser.newContext({ viewport: DESKTOP });
    const page = await context.newPage();
    const problems = watch(page);
    const bulkPosts: string[] = [];
    page.on("request", (request) => {
      if (request.method() === "POST" && new URL(request.url()).pathname === "/reviews")
        bulkPosts.push(request.postData() ?? "");
    });
    await signIn(page, "/queue?seller=tools-bulk");
    await expect.poll(heading(page), SLOW).toBe("Review queue");
    const rows = page.getByRole("list", { name: /waiting for review/ }).getByRole("listitem");
    await expect.poll(() => rows.count(), SLOW).toBe(3);
    const order = await rows.locator("a.row-title").allTextContents();
    const byTitle = (title: string | undefined) => {
      const found = bulk.find((product) => product.title === title);
      if (!found) throw new Error(`no product ${title}`);
      return found;
    };

    // x selects the current row (the first, by j), a click the second; the third is left alone.
    await page.keyboard.press("j");
    await page.keyboard.press("x");
    await rows.nth(1).getByRole("checkbox").check();
    await page.keyboard.press("j");
    await page.keyboard.press("j");
    expect(await rows.nth(2).getByRole("checkbox").isChecked()).toBe(false);
    await page.keyboard.press("x");
    await page.keyboard.press("x");
    expect(await rows.nth(0).getByRole("checkbox").isChecked()).toBe(true);
    expect(await rows.nth(1).getByRole("checkbox").isChecked()).toBe(true);
    expect(await rows.nth(2).getByRole("checkbox").isChecked()).toBe(false);
    await expect.poll(() => page.getByText("2 selected", { exact: true }).count(), SLOW).toBe(1);
    await page.getByRole("button", { name: "Approve selected…" }).click();

    const panel = page.getByRole("region", { name: /^Approve 2 selected products/ });
    const selects = panel.getByRole("combobox");
    await expect.poll(() => selects.count(), SLOW).toBe(2);
    // Each is proposed its standard variant.
    await expect
      .poll(() =>
        selects.evaluateAll((all) => all.map((select) => (select as unknown as { value: string }).value)),
      )
      .toEqual(["standard", "standard"]);
    // The second is given its web variant instead.
    await selects.nth(1).selectOption("web");
    await checkView(page, "bulk-desktop");
    await page.setViewportSize(PHONE);
    await checkView(page, "bulk-phone");
    await page.setViewportSize(DESKTOP);

    await panel.getByRole("button", { name: "Approve 2" }).click();
    await expect
      .poll(() => panel.getByRole("status").textContent(), SLOW)
      .toBe("2 approved, 0 conflict, 0 error.");
    expect(bulkPosts).toHaveLength(1);
    expect(JSON.parse(bulkPosts[0] ?? "{}")).toEqual({
      reviews: [
        { id: byTitle(order[0]).id, decision: "approve", mainImage: "standard" },
        { id: byTitle(order[1]).id, decision: "approve", mainImage: "web" },
      ],
    });
    expect(await productOf(byTitle(order[0]).id)).toMatchObject({
      status: "approved",
      mainImage: "standard",
    });
    expect(await productOf(byTitle(order[1]).id)).toMatchObject({ status: "approved", mainImage: "web" });
    // The queue drops both live, and keeps the third.
    await expect.poll(() => rows.count(), { timeout: 15_000 }).toBe(1);
    expect(await rows.first().locator("a.row-title").textContent()).toBe(order[2]);
    await checkView(page, "bulk-results-desktop");

    // The third, approved elsewhere while selected here: its result is a conflict, in its place.
    await panel.getByRole("button", { name: "Close" }).click();
    await rows.first().getByRole("checkbox").check();
    await page.getByRole("button", { name: "Approve selected…" }).click();
    const last = page.getByRole("region", { name: /^Approve 1 selected product/ });
    await expect.poll(() => last.getByRole("combobox").inputValue(), SLOW).toBe("standard");
    await callApi(
      { url: stack.apiUrl, token: reviewerToken },
      "POST",
      `/products/${byTitle(order[2]).id}/review`,
      {
        decision: "reject",
        reason: "Wrong product",
      },
    );
    await last.getByRole("button", { name: "Approve 1" }).click();
    await expect
      .poll(() => last.getByRole("status").textContent(), SLOW)
      .toBe("0 approved, 1 conflict, 0 error.");
    expect(await last.getByRole("list", { name: "Selected products" }).textContent()).toMatch(
      /conflict: not approved: someone decided first \(it is rejected\)/,
    );
    expect((await productOf(byTitle(order[2]).id)).status).toBe("rejected");
    expect(problems).toEqual([]);
    await context.close();
  }, 300_000);

  it("shows a 409 at send time: someone decided while the decision was held", async () => {
    requireChromium();
    const [product] = contested;
    if (!product) throw new Error("no contested product");
    const context = await browser.newContext({ viewport: DESKTOP });
    const page = await context.newPage();
    // The one refusal this test provokes: the held approval, sent after another reviewer's rejection.
    const problems = watch(page, { status: 409, path: `/products/${product.id}/review` });
    await signIn(page, `/product/${product.id}`);
    await expect.poll(heading(page), SLOW).toBe(product.title);
    const panel = page.getByRole("region", { name: "Decision" });
    await expect.poll(() => panel.getByRole("radio").count(), SLOW).toBeGreaterThan(0);
    await page.keyboard.press("a");
    await page.keyboard.press("Space");
    await page.keyboard.press("a");
    await expect.poll(heading(page), SLOW).not.toBe(product.title);
    // Another reviewer rejects it inside the window.
    const other = await mintLocalToken(stack.dataDir, { name: "other-reviewer", roles: ["reviewer"] });
    await callApi({ url: stack.apiUrl, token: other }, "POST", `/products/${product.id}/review`, {
      decision: "reject",
      reason: "Wrong product",
    });
    const alert = page.locator(".decision-toast[role=alert]");
    await expect.poll(() => alert.count(), { timeout: UNDO_WINDOW_MS + 10_000 }).toBe(1);
    expect(await alert.textContent()).toMatch(
      new RegExp(
        `^Someone decided first: ${product.sku} was rejected: Wrong product \\(.*\\); its history names who\\.`,
      ),
    );
    expect(await productOf(product.id)).toMatchObject({ status: "rejected", mainImage: null });
    await checkView(page, "conflict-desktop");
    await page.setViewportSize(PHONE);
    await checkView(page, "conflict-phone");
    // It stays until dismissed.
    await alert.getByRole("button", { name: "Dismiss" }).click();
    await expect.poll(() => alert.count(), SLOW).toBe(0);
    expect(problems).toEqual([]);
    await context.close();
  }, 300_000);
});
