/**
 * Renders the demo's sample product shots. They are drawn here rather than taken from elsewhere so
 * that the repository can ship them under its own terms (CC0). Run: `npx node samples/make-samples.ts`.
 */
import { writeFile } from "node:fs/promises";
import sharp from "sharp";

const here = new URL(".", import.meta.url).pathname;

const mug = `<svg xmlns="http://www.w3.org/2000/svg" width="1600" height="1200">
  <defs>
    <linearGradient id="wall" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="#efe9df"/><stop offset="1" stop-color="#d9d0c1"/></linearGradient>
    <linearGradient id="body" x1="0" y1="0" x2="1" y2="0"><stop offset="0" stop-color="#8f1d1d"/><stop offset="0.45" stop-color="#d23a3a"/><stop offset="1" stop-color="#6d1313"/></linearGradient>
  </defs>
  <rect width="1600" height="1200" fill="url(#wall)"/>
  <ellipse cx="790" cy="930" rx="330" ry="60" fill="#000" opacity="0.18"/>
  <path d="M1050 470 q190 0 190 170 t-190 170" fill="none" stroke="#a42828" stroke-width="58"/>
  <rect x="530" y="380" width="540" height="560" rx="40" fill="url(#body)"/>
  <ellipse cx="800" cy="385" rx="270" ry="46" fill="#5a0f0f"/>
  <text x="800" y="700" font-family="sans-serif" font-size="96" font-weight="bold" fill="#fff" text-anchor="middle" opacity="0.85">PIXEL</text>
</svg>`;

const bottle = `<svg xmlns="http://www.w3.org/2000/svg" width="900" height="1400">
  <defs><linearGradient id="glass" x1="0" y1="0" x2="1" y2="0"><stop offset="0" stop-color="#1f6f4a"/><stop offset="0.4" stop-color="#45b883"/><stop offset="1" stop-color="#154d33"/></linearGradient></defs>
  <rect x="380" y="80" width="140" height="110" rx="16" fill="#222"/>
  <path d="M390 190 h120 v170 q170 90 170 260 v620 q0 60 -60 60 h-340 q-60 0 -60 -60 v-620 q0 -170 170 -260z" fill="url(#glass)"/>
  <rect x="270" y="700" width="360" height="330" rx="20" fill="#f7f3e8"/>
  <text x="450" y="880" font-family="serif" font-size="72" fill="#1f6f4a" text-anchor="middle">OLIVE</text>
</svg>`;

const box = `<svg xmlns="http://www.w3.org/2000/svg" width="1200" height="900">
  <rect width="1200" height="900" fill="#9aa7b4"/>
  <polygon points="330,330 700,250 900,360 530,450" fill="#e2b36b"/>
  <polygon points="330,330 530,450 530,760 330,640" fill="#b9854a"/>
  <polygon points="530,450 900,360 900,660 530,760" fill="#cf9a59"/>
  <text x="715" y="580" font-family="sans-serif" font-size="54" fill="#5b3a16" text-anchor="middle" transform="rotate(-14 715 580)">FRAGILE</text>
</svg>`;

// A shot taken with the camera turned: stored landscape, EXIF says "rotate 90° clockwise to view".
await sharp(Buffer.from(mug)).jpeg({ quality: 88 }).toFile(`${here}mug.jpg`);
await sharp(Buffer.from(bottle)).png({ compressionLevel: 9 }).toFile(`${here}bottle.png`);
const upright = await sharp(Buffer.from(box)).rotate(-90).jpeg({ quality: 88 }).toBuffer();
await writeFile(
  `${here}box-sideways.jpg`,
  await sharp(upright).withMetadata({ orientation: 6 }).jpeg({ quality: 88 }).toBuffer(),
);
