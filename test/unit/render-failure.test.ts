import { readFile } from "node:fs/promises";
import { describe, expect, it, vi } from "vitest";
import { readHeader } from "../../lambdas/engine/decode.ts";
import { renderVariantSet } from "../../lambdas/engine/render.ts";
import { DEFAULT_VARIANT_SET } from "../../lambdas/engine/variant-spec.ts";
import { CORPUS } from "../support/upload.ts";

// The variants start while the master is assessed and wait on that assessment: if it fails, every
// variant must fail with it, promptly, and nothing may be left rejected without a handler.
vi.mock("../../lambdas/engine/quality.ts", async (importOriginal) => {
  const original = await importOriginal<typeof import("../../lambdas/engine/quality.ts")>();
  return {
    ...original,
    // apple.jpg is 512×512: the master fails, the 1000 px standard square would not.
    assessBackground: async (image: Parameters<typeof original.assessBackground>[0]) => {
      if (image.width === 512) throw new Error("the border analysis broke");
      return original.assessBackground(image);
    },
  };
});

describe("renderVariantSet when the master's assessment fails", () => {
  it("rejects with that failure instead of waiting for it forever", async () => {
    const input = await readFile(`${CORPUS}apple.jpg`);
    const header = await readHeader(input, "jpeg", 100_000_000);
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on("unhandledRejection", onUnhandled);
    try {
      await expect(renderVariantSet(input, header, DEFAULT_VARIANT_SET, 100_000_000)).rejects.toThrow(
        "the border analysis broke",
      );
      // Variants still running when the set failed settle on their own; give them the time to.
      await new Promise((resolve) => setTimeout(resolve, 1000));
      expect(unhandled).toEqual([]);
    } finally {
      process.off("unhandledRejection", onUnhandled);
    }
  }, 20_000);
});
