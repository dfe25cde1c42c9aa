import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

/** Where `npm run web:dev` sends API calls: a running `npm start`. */
const api = process.env.PIXEL_LAB_API ?? "http://127.0.0.1:3000";
const proxied = [
  "/products",
  "/reviews",
  "/changes",
  "/health",
  "/openapi.json",
  "/assets",
  "/local",
  "/config.json",
];

export default defineConfig({
  root: import.meta.dirname,
  base: "/",
  plugins: [react()],
  build: {
    outDir: "dist",
    emptyOutDir: true,
    // `/assets/` is the enhanced images' path (CloudFront's, and the local gateway's), so the bundle lives
    // under `/app/`: hashed names, served with a year's cache.
    assetsDir: "app",
    target: "es2022",
  },
  server: {
    proxy: Object.fromEntries(proxied.map((path) => [path, api])),
  },
});
