import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import AxeBuilder from "@axe-core/playwright";
import type { Browser, Page, Request } from "playwright-core";
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
import { pdfDocument } from "../support/fixtures.ts";
import { CORPUS } from "../support/upload.ts";

/**
 * The seller's second chances, in a real browser against `npm start`'s stack in a child process (its own
 * database): on a product page, a download of every variant under a file name of its own, a re-enhancement
 * (a target size the API would refuse is shown on its field and nothing is sent; a valid one comes back live as
 * a new sequence), a new photo (a file that is no image refused before anything is sent; storage refusing the
 * ticket once, then Retry with a fresh ticket, and the new sequence live); a reviewer sees the downloads but not
 * the seller's controls; and on New products, a dropped folder walked (sub-folders too, hidden files
 * skipped), a dropped photo joined to the row of a CSV picked after it, a 400 of the API shown on the field it
 * names, and an upload that never reached storage sent again by Retry (with the same ticket, then with a fresh
 * one once the page's clock has passed its expiry). Each new state is checked with axe at 1280 and 390 px and photographed into `test/browser/artifacts/`; any console
 * error, failed request or 4xx/5xx answer the test did not cause on purpose fails it.
 */
const ARTIFACTS = new URL("./artifacts/", import.meta.url).pathname;
const DESKTOP = { width: 1280, height: 900 };
const PHONE = { width: 390, height: 844 };
const SELLER = "rework-seller";

const databaseUrl = uniqueDatabaseUrl("rework");
let stack: LocalStackProcess;
let browser: Browser;

const isStorage = (url: string) => new URL(url).origin !== new URL(stack.apiUrl).origin;

/**
 * Everything the page does that a user would call broken, collected as it happens; `expected` names the
 * failures the test causes itself (a storage answer it forges, a request it aborts).
 */
const watch = (page: Page, expected: (url: string, status?: number) => boolean = () => false) => {
  const problems: string[] = [];
  page.on("console", (message) => {
    if (message.type() !== "error") return;
    // Chromium reports a failed load as a console error; those the test forged are not the page's fault.
    if (/Failed to load resource/.test(message.text()) && expected(message.location().url)) return;
    problems.push(`console error: ${message.text()}`);
  });
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  page.on("requestfailed", (request) => {
    const aborted = request.failure()?.errorText === "net::ERR_ABORTED";
    if (aborted && new URL(request.url()).pathname === "/changes") return;
    // A new sequence replaces the images on the page: one of the old still loading is cancelled by the page.
    if (aborted && new URL(request.url()).pathname.startsWith("/assets/enhanced/")) return;
    if (expected(request.url())) return;
    problems.push(`request failed: ${request.method()} ${request.url()} (${request.failure()?.errorText})`);
  });
  page.on("response", (response) => {
    if (response.status() >= 400 && !expected(response.url(), response.status())) {
      problems.push(`${response.status()} for ${response.request().method()} ${response.url()}`);
    }
  });
  return problems;
};

const checkView = async (page: Page, viewport: string, view: string) => {
  await page.waitForLoadState("networkidle");
  const results = await new AxeBuilder({ page }).withTags(AXE_TAGS).analyze();
  const severe = seriousViolations(results);
  expect(severe, `axe on ${view} at ${viewport}`).toEqual([]);
  await page.screenshot({ path: `${ARTIFACTS}${viewport}-${view}.png`, fullPage: true });
};

/** axe and a screenshot at both widths, back at the desktop's after. */
const checkBothWidths = async (page: Page, view: string) => {
  await checkView(page, "desktop", view);
  await page.setViewportSize(PHONE);
  await checkView(page, "phone", view);
  await page.setViewportSize(DESKTOP);
};

const signIn = async (page: Page, role: "Seller" | "Reviewer", name: string) => {
  await page.goto(`${stack.apiUrl}/sign-in`);
  await page.waitForLoadState("networkidle");
  await expect
    .poll(() => page.getByRole("heading", { level: 1 }).textContent(), { timeout: 15_000 })
    .toBe("Sign in");
  await page.getByRole("radio", { name: new RegExp(`^${role}`) }).check();
  await page.getByLabel("Name").fill(name);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect.poll(() => new URL(page.url()).pathname).not.toBe("/sign-in");
  // Leaving while the first page still loads (its icon, its lists) would abort those requests.
  await page.waitForLoadState("networkidle");
};

interface Created {
  products: { id: string; upload: { url: string; fields: Record<string, string> } | null }[];
}

/** A product of the seller's with a corpus photo, in review. */
const productInReview = async (token: string, sku: string, photo: string) => {
  const created = await callApi<Created>({ url: stack.apiUrl, token }, "POST", "/products", {
    products: [
      {
        sku,
        title: `Rework ${sku}`,
        category: "rework",
        mrp: "100.00",
        price: "90.00",
        gst: "12",
        contentType: "image/jpeg",
      },
    ],
  });
  const product = created.products[0];
  if (!product?.upload) throw new Error("the product has no upload");
  await uploadPhoto(product.upload, await readFile(`${CORPUS}${photo}`), photo);
  await expect
    .poll(
      async () =>
        (await callApi<{ status: string }>({ url: stack.apiUrl, token }, "GET", `/products/${product.id}`))
          .status,
      { timeout: 60_000 },
    )
    .toBe("pending_review");
  return product.id;
};

beforeAll(async () => {
  if (chromiumMissing) return;
  await mkdir(ARTIFACTS, { recursive: true });
  stack = await startLocalStackProcess({ DATABASE_URL: databaseUrl, LOCAL_VISIBILITY_TIMEOUT_SECONDS: "5" });
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  if (!stack) return;
  const code = await stack.stop();
  await dropDatabaseAndAppUser(databaseUrl);
  expect(code, `the local stack should stop cleanly on Ctrl-C:\n${stack.output()}`).toBe(0);
});

describe("re-upload and re-enhance", () => {
  it("downloads every variant, re-enhances and takes a new photo, each live as a new sequence", async () => {
    requireChromium();
    const token = await mintLocalToken(stack.dataDir, { name: SELLER, roles: ["seller"] });
    const id = await productInReview(token, "REWORK-1", "apple.jpg");

    const context = await browser.newContext({ viewport: DESKTOP });
    const page = await context.newPage();
    // Storage's refusal of the first ticket is forged below: its 403 is expected, nothing else is.
    let forged = 0;
    const problems = watch(
      page,
      (url, status) => isStorage(url) && (status === undefined || status === 403) && forged > 0,
    );
    const sent: Request[] = [];
    page.on("request", (request) => {
      if (request.method() === "POST") sent.push(request);
    });
    const posts = (pattern: RegExp) =>
      sent.filter((request) => pattern.test(new URL(request.url()).pathname));

    await signIn(page, "Seller", SELLER);
    await page.getByRole("link", { name: "Rework REWORK-1" }).click();
    await expect
      .poll(() => page.getByRole("heading", { level: 1 }).textContent(), { timeout: 15_000 })
      .toBe("Rework REWORK-1");

    // A download of every variant, named by sku, variant and sequence.
    const downloads = page.getByRole("region", { name: "Downloads" }).getByRole("link");
    await expect.poll(() => downloads.count()).toBe(4);
    expect(
      await downloads.evaluateAll((links) => links.map((link) => link.getAttribute("download"))),
    ).toEqual([
      "REWORK-1-standard-1.jpg",
      "REWORK-1-enhanced-1.jpg",
      "REWORK-1-web-1.webp",
      "REWORK-1-thumb-1.webp",
    ]);
    const [download] = await Promise.all([page.waitForEvent("download"), downloads.first().click()]);
    expect(download.suggestedFilename()).toBe("REWORK-1-standard-1.jpg");
    const bytes = await readFile(await download.path());
    expect([...bytes.subarray(0, 3)]).toEqual([0xff, 0xd8, 0xff]);
    await checkBothWidths(page, "product-rework");

    // A target size the API would refuse: said on its field, focused, and nothing is sent.
    const panel = page.getByRole("form", { name: "Re-enhance" });
    const target = panel.getByLabel("Target size (KB)");
    await target.fill("30");
    await panel.getByRole("button", { name: "Re-enhance" }).click();
    await expect.poll(() => target.getAttribute("aria-invalid")).toBe("true");
    const describedBy = (await target.getAttribute("aria-describedby"))?.split(" ") ?? [];
    expect(await page.locator(`[id="${describedBy[0]}"]`).textContent()).toBe(
      "Target size must be at least 50.",
    );
    expect(await page.locator("#reenhance-target:focus").count()).toBe(1);
    await target.fill("12.5");
    await panel.getByRole("button", { name: "Re-enhance" }).click();
    await expect
      .poll(() => page.locator(`[id="${describedBy[0]}"]`).textContent())
      .toBe("Target size must be a whole number of KB.");
    expect(posts(/\/enhance$/)).toHaveLength(0);
    await checkBothWidths(page, "product-rework-invalid");

    // A valid one: queued, then the new sequence arrives on the page by itself.
    await panel.getByLabel("Mode").selectOption("OPTIMIZE");
    await panel.getByLabel("Format").selectOption("webp");
    await target.fill("120");
    const [accepted] = await Promise.all([
      page.waitForResponse((response) => response.url().endsWith(`/products/${id}/enhance`)),
      panel.getByRole("button", { name: "Re-enhance" }).click(),
    ]);
    const queuedAt = Date.now();
    expect(accepted.status()).toBe(202);
    expect(JSON.parse(posts(/\/enhance$/)[0]?.postData() ?? "{}")).toEqual({
      mode: "OPTIMIZE",
      format: "webp",
      targetKb: 120,
    });
    expect(await panel.getByRole("status").textContent()).toMatch(
      /^Queued: the optimize variant \(OPTIMIZE, webp, 120 KB\) comes as a new sequence after 1\./,
    );
    await expect
      .poll(() => downloads.evaluateAll((links) => links.map((link) => link.getAttribute("download"))), {
        timeout: 60_000,
        interval: 50,
      })
      .toEqual(["REWORK-1-optimize-2.webp"]);
    const reenhanced = Date.now() - queuedAt;
    await expect
      .poll(() => page.locator(".status-line .status").first().textContent(), { timeout: 30_000 })
      .toBe("In review");
    await expect.poll(() => panel.getByRole("status").textContent()).toMatch(/Sequence 2 is here/);
    console.log(`re-enhance, 202 to the new sequence on the open page: ${reenhanced} ms`);
    await checkBothWidths(page, "product-rework-reenhanced");

    // A file that is no image, named like one: refused by its bytes, no ticket asked for.
    const newPhoto = page.getByRole("region", { name: "Upload a new photo" });
    const photoInput = newPhoto.getByLabel("New photo for REWORK-1");
    await photoInput.setInputFiles({ name: "notes.jpg", mimeType: "image/jpeg", buffer: pdfDocument });
    await expect
      .poll(() => newPhoto.getByRole("alert").textContent())
      .toBe("notes.jpg was not sent: it is a PDF file, not a JPEG, PNG, WebP, AVIF, TIFF or GIF image.");
    expect(posts(/\/uploads$/)).toHaveLength(0);

    // Storage refuses the first ticket (as it does an expired one); Retry asks for a fresh one and sends.
    await page.route(
      (url) => isStorage(url.href),
      async (route) => {
        if (route.request().method() !== "POST" || forged > 0) return route.fallback();
        forged += 1;
        return route.fulfill({
          status: 403,
          headers: { "content-type": "application/xml", "access-control-allow-origin": "*" },
          body: "<Error><Code>AccessDenied</Code><Message>Invalid according to Policy: Policy expired.</Message></Error>",
        });
      },
    );
    await photoInput.setInputFiles(`${CORPUS}orange.jpg`);
    await expect
      .poll(() => newPhoto.getByRole("alert").textContent())
      .toBe("Upload of orange.jpg failed: storage answered 403 (AccessDenied). Retry");
    expect(posts(/\/uploads$/)).toHaveLength(1);
    await checkBothWidths(page, "product-rework-upload-failed");
    await newPhoto.getByRole("button", { name: "Retry" }).click();
    const bar = newPhoto.getByRole("progressbar");
    await expect.poll(() => bar.getAttribute("value"), { timeout: 30_000 }).toBe("100");
    const uploadedAt = Date.now();
    expect(posts(/\/uploads$/)).toHaveLength(2);
    const tickets = posts(/\/uploads$/).map((request) => JSON.parse(request.postData() ?? "{}"));
    expect(tickets).toEqual([{ contentType: "image/jpeg" }, { contentType: "image/jpeg" }]);
    // The new photo's whole default set, as sequence 3, and the product in review again.
    await expect
      .poll(() => downloads.evaluateAll((links) => links.map((link) => link.getAttribute("download"))), {
        timeout: 60_000,
        interval: 50,
      })
      .toEqual([
        "REWORK-1-standard-3.jpg",
        "REWORK-1-enhanced-3.jpg",
        "REWORK-1-web-3.webp",
        "REWORK-1-thumb-3.webp",
      ]);
    console.log(`new photo, upload to the new sequence on the open page: ${Date.now() - uploadedAt} ms`);
    await expect
      .poll(() => page.locator(".status-line .status").first().textContent(), { timeout: 30_000 })
      .toBe("In review");
    await expect
      .poll(() => newPhoto.getByRole("status").textContent())
      .toMatch(/^orange\.jpg was sent\. It is sequence 3/);
    await checkBothWidths(page, "product-rework-new-photo");
    expect(forged).toBe(1);
    expect(problems).toEqual([]);
    await context.close();

    // A reviewer gets the downloads, not the seller's controls.
    const reviewerContext = await browser.newContext({ viewport: DESKTOP });
    const reviewerPage = await reviewerContext.newPage();
    const reviewerProblems = watch(reviewerPage);
    await signIn(reviewerPage, "Reviewer", "rework-reviewer");
    await reviewerPage.getByRole("link", { name: "Rework REWORK-1" }).click();
    await expect
      .poll(() => reviewerPage.getByRole("heading", { level: 1 }).textContent(), { timeout: 15_000 })
      .toBe("Rework REWORK-1");
    await expect
      .poll(() => reviewerPage.getByRole("region", { name: "Downloads" }).getByRole("link").count())
      .toBe(4);
    expect(await reviewerPage.getByRole("region", { name: "Photo and variants" }).count()).toBe(0);
    await reviewerPage.waitForLoadState("networkidle");
    expect(reviewerProblems).toEqual([]);
    await reviewerContext.close();
  }, 360_000);

  it("walks a folder dropped on New products, sub-folders too, skips its hidden files, and says why a row's photo was refused", async () => {
    requireChromium();
    const folder = await mkdtemp(join(tmpdir(), "pixel-lab-drop-"));
    await mkdir(join(folder, "more"));
    await copyFile(`${CORPUS}apple.jpg`, join(folder, "apple.jpg"));
    await copyFile(`${CORPUS}orange.jpg`, join(folder, "more", "orange.jpg"));
    await writeFile(join(folder, ".DS_Store"), "junk");
    await writeFile(join(folder, "notes.jpg"), pdfDocument);
    await writeFile(
      join(folder, "products.csv"),
      "sku,title,category,mrp,price,gst,photo\nDROP-1,Dropped apple,fruit,10,9,5,apple.jpg\nDROP-2,Dropped orange,fruit,10,9,5,orange.jpg\nDROP-3,Notes,paper,10,9,5,notes.jpg\n",
    );
    const context = await browser.newContext({ viewport: DESKTOP });
    const page = await context.newPage();
    const problems = watch(page);
    await signIn(page, "Seller", `${SELLER}-drop`);
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "New products" }).click();
    await expect
      .poll(() => page.getByRole("heading", { level: 1 }).textContent(), { timeout: 15_000 })
      .toBe("New products");
    // A real drag of the folder, as the operating system hands it to Chromium (Playwright has no folder drop).
    const zone = await page.getByRole("region", { name: "Photos" }).boundingBox();
    if (!zone) throw new Error("the drop zone is not on the page");
    const cdp = await context.newCDPSession(page);
    const at = { x: zone.x + zone.width / 2, y: zone.y + zone.height / 2 };
    const data = { items: [], files: [folder], dragOperationsMask: 1 };
    for (const type of ["dragEnter", "dragOver", "drop"] as const) {
      await cdp.send("Input.dispatchDragEvent", { type, ...at, data });
    }
    const rows = page.getByRole("list", { name: "New products" }).getByRole("listitem");
    await expect.poll(() => rows.count(), { timeout: 15_000 }).toBe(3);
    expect(
      await rows
        .getByLabel("Title")
        .evaluateAll((inputs) => inputs.map((input) => (input as unknown as { value: string }).value)),
    ).toEqual(["Dropped apple", "Dropped orange", "Notes"]);
    expect(await rows.nth(1).textContent()).toContain("orange.jpg");
    // The photo a row names but the page refused: the row says why, and waits.
    expect(await page.getByRole("list", { name: "Refused files" }).textContent()).toMatch(
      /^notes\.jpg: it is a PDF file/,
    );
    expect(await rows.nth(2).textContent()).toContain(
      "“notes.jpg” was not added (it is a PDF file, not a JPEG",
    );
    expect(await page.getByRole("button", { name: /^Create and upload/ }).textContent()).toBe(
      "Create and upload (2)",
    );
    expect(problems).toEqual([]);
    await context.close();
    await rm(folder, { recursive: true, force: true });
  }, 120_000);

  it("joins a dropped photo to a CSV row picked after it, maps the API's 400 to its field, and sends again by Retry an upload that never reached storage, with a fresh ticket once it expired", async () => {
    requireChromium();
    const context = await browser.newContext({ viewport: PHONE });
    const page = await context.newPage();
    let aborted = 0;
    let refused = 0;
    const problems = watch(
      page,
      (url, status) =>
        (isStorage(url) && aborted > 0) ||
        (new URL(url).pathname === "/products" && (status === undefined || status === 400) && refused > 0),
    );
    const tickets: string[] = [];
    const creates: string[] = [];
    page.on("request", (request) => {
      if (request.method() !== "POST") return;
      if (/\/uploads$/.test(new URL(request.url()).pathname)) tickets.push(request.url());
      if (new URL(request.url()).pathname === "/products") creates.push(request.postData() ?? "");
    });
    // Storage's connection drops twice: the photo never arrives, the ticket is not at fault.
    await page.route(
      (url) => isStorage(url.href),
      async (route) => {
        if (route.request().method() !== "POST" || aborted > 1) return route.fallback();
        aborted += 1;
        return route.abort("connectionreset");
      },
    );
    // The API refuses the first POST /products for a rule the page does not check itself (it checks every rule
    // the API has today): its 400, in the API's own shape, must still land on the row and field it names.
    await page.route(
      (url) => url.pathname === "/products",
      async (route) => {
        if (route.request().method() !== "POST" || refused > 0) return route.fallback();
        refused += 1;
        return route.fulfill({
          status: 400,
          contentType: "application/json",
          body: JSON.stringify({
            error: {
              code: "VALIDATION_FAILED",
              message: "the request has 1 invalid field(s)",
              details: [{ path: "products[0].category", message: "is not a category of this marketplace" }],
            },
          }),
        });
      },
    );
    // The page's clock runs as it does, until the test moves it on to expire a ticket.
    await page.clock.install();
    await signIn(page, "Seller", `${SELLER}-retry`);
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "New products" }).click();
    await expect
      .poll(() => page.getByRole("heading", { level: 1 }).textContent(), { timeout: 15_000 })
      .toBe("New products");

    // A photo dropped on the page gets a row from its file name ...
    const photo = (await readFile(`${CORPUS}fruits.jpg`)).toString("base64");
    const dropped = await page.evaluateHandle((base64) => {
      const bytes = Uint8Array.from(atob(base64), (char) => char.charCodeAt(0));
      // The callback runs in the page; this project's TypeScript has no DOM types, so it names what it uses.
      const scope = globalThis as unknown as {
        DataTransfer: new () => { items: { add(file: File): unknown } };
      };
      const transfer = new scope.DataTransfer();
      transfer.items.add(new File([bytes], "Fruits.JPG", { type: "image/jpeg" }));
      return transfer;
    }, photo);
    await page.getByRole("region", { name: "Photos" }).dispatchEvent("drop", { dataTransfer: dropped });
    const rows = page.getByRole("list", { name: "New products" }).getByRole("listitem");
    await expect.poll(() => rows.count()).toBe(1);
    expect(await rows.first().getByLabel("SKU").inputValue()).toBe("FRUITS");
    // ... which a CSV picked after it replaces with its row, naming the photo in other case.
    await page.getByLabel(/Choose photos/).setInputFiles({
      name: "later.csv",
      mimeType: "text/csv",
      buffer: Buffer.from(
        "sku,title,category,mrp,price,gst,photo\nRETRY-1,Fruit basket,fruit,20,18,5,fruits.jpg\n",
      ),
    });
    await expect.poll(() => rows.first().getByLabel("SKU").inputValue()).toBe("RETRY-1");
    expect(await rows.count()).toBe(1);
    expect(await rows.first().textContent()).toContain("CSV line 2");
    expect(await rows.first().getByLabel("Title").inputValue()).toBe("Fruit basket");

    const create = page.getByRole("button", { name: /^Create and upload/ });
    await create.click();
    const category = rows.first().getByLabel("Category");
    await expect.poll(() => category.getAttribute("aria-invalid")).toBe("true");
    expect(
      await page.locator(`[id="${await category.getAttribute("aria-describedby")}"]`).textContent(),
    ).toBe("Category is not a category of this marketplace");
    expect(await page.locator("#form-error").textContent()).toMatch(/^Nothing was created: 1 problem/);
    await category.fill("fruit and veg");
    await create.click();
    await expect
      .poll(() => rows.first().locator(".field-error").textContent(), { timeout: 15_000 })
      .toBe("Upload failed: the upload did not reach storage. Retry");
    await checkView(page, "phone", "new-products-csv-retry");
    // Retry sends again with the same ticket: none is asked for. The connection drops again.
    await rows.first().getByRole("button", { name: "Retry" }).click();
    await expect.poll(() => aborted, { timeout: 15_000 }).toBe(2);
    await expect
      .poll(() => rows.first().getByRole("button", { name: "Retry" }).count(), { timeout: 15_000 })
      .toBe(1);
    expect(tickets).toEqual([]);
    // Sixteen minutes on, the ticket (15 minutes) has expired: Retry asks for a fresh one first, and sends.
    await page.clock.fastForward("16:00");
    await rows.first().getByRole("button", { name: "Retry" }).click();
    await expect
      .poll(() => rows.first().getByRole("progressbar").getAttribute("value"), { timeout: 30_000 })
      .toBe("100");
    await expect.poll(() => rows.filter({ hasText: "In review" }).count(), { timeout: 60_000 }).toBe(1);
    expect(tickets).toHaveLength(1);
    expect(aborted).toBe(2);
    expect(creates.map((body) => JSON.parse(body).products[0].category)).toEqual(["fruit", "fruit and veg"]);
    expect(problems).toEqual([]);
    await context.close();
  }, 120_000);
});
