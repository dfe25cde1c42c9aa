import { mkdir } from "node:fs/promises";
import sharp from "sharp";

/**
 * The README's screenshots, made from the browser tests' artifacts (`npm test` writes them into
 * `test/browser/artifacts/`): each view cropped to its first screenfuls and encoded as WebP, small enough to
 * keep in the repository. Run `npm run screenshots` after the browser tests when the dashboard changes.
 */
const ARTIFACTS = new URL("../test/browser/artifacts/", import.meta.url).pathname;
const OUT = new URL("../docs/screenshots/", import.meta.url).pathname;

const SHOTS = [
  { from: "desktop-gallery.png", to: "seller-gallery.webp", maxHeight: 620 },
  { from: "desktop-new-products-csv-uploaded.png", to: "seller-new-products.webp", maxHeight: 1700 },
  { from: "phone-gallery.png", to: "seller-gallery-phone.webp", maxHeight: 1400 },
  { from: "desktop-queue.png", to: "reviewer-queue.webp", maxHeight: 700 },
  { from: "review-compare-desktop.png", to: "reviewer-compare.webp", maxHeight: 2450 },
] as const;

await mkdir(OUT, { recursive: true });
for (const shot of SHOTS) {
  const image = sharp(`${ARTIFACTS}${shot.from}`);
  const { width = 0, height = 0 } = await image.metadata();
  const info = await image
    .extract({ left: 0, top: 0, width, height: Math.min(height, shot.maxHeight) })
    .webp({ quality: 80 })
    .toFile(`${OUT}${shot.to}`);
  console.log(`${shot.to}: ${info.width}×${info.height}, ${Math.round(info.size / 1024)} KB`);
}
