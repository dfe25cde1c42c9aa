/**
 * Takes a folder of photos through the running local stack (or any deployment) over HTTP only:
 * bulk-creates one product per photo, uploads each with its presigned POST, waits, and prints
 * every product's final status and image URLs.
 *
 *   npm run demo                       # the sample shots in samples/
 *   npm run demo -- ~/photos           # your own folder
 *   PIXEL_LAB_API=https://... PIXEL_LAB_TOKEN=<access token> npm run demo -- ~/photos
 *
 * Against the local stack it signs in as the seller `demo` with a token from the stack's own key.
 */
import { readdir, readFile } from "node:fs/promises";
import { basename, extname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { type ApiTarget, callApi, uploadPhoto } from "../local/client.ts";
import { mintLocalToken } from "../local/identity.ts";
import { LOCAL_ENV } from "../local/stack.ts";

const CONTENT_TYPES: Record<string, string> = {
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".png": "image/png",
  ".webp": "image/webp",
  ".avif": "image/avif",
  ".tif": "image/tiff",
  ".tiff": "image/tiff",
  ".gif": "image/gif",
};
const SETTLED = new Set(["pending_review", "failed", "approved", "rejected"]);

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    api: { type: "string", default: process.env.PIXEL_LAB_API ?? "http://127.0.0.1:3000" },
    timeout: { type: "string", default: "180" },
    seller: { type: "string", default: "demo" },
    token: { type: "string", default: process.env.PIXEL_LAB_TOKEN },
  },
});
const apiUrl = (values.api ?? "").replace(/\/+$/, "");
const seller = values.seller ?? "demo";
const api: ApiTarget = {
  url: apiUrl,
  token:
    values.token ??
    (await mintLocalToken(resolve(process.env[LOCAL_ENV.dataDir] ?? ".local"), {
      name: seller,
      roles: ["seller"],
    })),
};
const folder = resolve(positionals[0] ?? new URL("../samples/", import.meta.url).pathname);
const timeoutMs = Number(values.timeout) * 1000;

interface Product {
  id: string;
  status: string;
  statusReason: string | null;
  images: { variant: string; width: number; height: number; bytes: number; url: string }[];
}

const call = <T>(method: string, path: string, body?: unknown) => callApi<T>(api, method, path, body);

const files = (await readdir(folder)).filter((name) => CONTENT_TYPES[extname(name).toLowerCase()]).sort();
if (files.length === 0) {
  process.stderr.write(`no photos (${Object.keys(CONTENT_TYPES).join(" ")}) in ${folder}\n`);
  process.exit(1);
}

const run = Date.now().toString(36).toUpperCase();
const products = files.map((file) => ({
  sku: `DEMO-${run}-${basename(file, extname(file))
    .replace(/[^A-Za-z0-9]+/g, "-")
    .slice(0, 40)}`,
  title: `Demo: ${file}`,
  category: "demo",
  mrp: "999.00",
  price: "899.00",
  discount: "10.00",
  gst: "18.00",
  contentType: CONTENT_TYPES[extname(file).toLowerCase()],
}));
process.stdout.write(
  `Creating ${files.length} products at ${apiUrl} for the photos in ${folder}${values.token ? "" : `, as the seller ${seller}`}\n`,
);
const { products: created } = await call<{
  products: { id: string; upload: { url: string; fields: Record<string, string> } }[];
}>("POST", "/products", { products });

const results = await Promise.all(
  files.map(async (file, index) => {
    const product = created[index];
    if (!product) throw new Error(`no product came back for ${file}`);
    const started = performance.now();
    await uploadPhoto(product.upload, await readFile(join(folder, file)), file);
    for (;;) {
      const current = await call<Product>("GET", `/products/${product.id}`);
      if (SETTLED.has(current.status))
        return { file, seconds: (performance.now() - started) / 1000, product: current };
      if (performance.now() - started > timeoutMs)
        return { file, seconds: timeoutMs / 1000, product: current };
      await new Promise((done) => setTimeout(done, 200));
    }
  }),
);

for (const { file, seconds, product } of results) {
  process.stdout.write(`\n${file}  →  ${product.status}  (${seconds.toFixed(2)} s)  product ${product.id}\n`);
  if (product.statusReason) process.stdout.write(`  reason: ${product.statusReason}\n`);
  for (const image of product.images) {
    process.stdout.write(
      `  ${image.variant}  ${image.width}×${image.height}  ${(image.bytes / 1024).toFixed(0)} KB  ${image.url}\n`,
    );
  }
}
const reviewed = results.filter((result) => result.product.status === "pending_review").length;
process.stdout.write(`\n${reviewed} of ${results.length} photos reached pending_review\n`);
process.exit(reviewed === results.length ? 0 : 1);
