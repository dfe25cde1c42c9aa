import { z } from "zod";
import { MODES, OUTPUT_FORMATS, PROFILE_NAMES } from "./vocabulary.ts";

/**
 * What a variant is, free of sharp: the API Lambdas validate re-enhancement requests with it and
 * their bundles carry no image library.
 */
/** One output of an image: a mode, and how it is encoded. Validated where it enters (config, API). */
export const variantSpecSchema = z
  .object({
    name: z.string().regex(/^[a-z][a-z0-9-]{0,31}$/, "must be lowercase letters, digits and '-', at most 32"),
    mode: z.enum(MODES, { error: `must be one of ${MODES.join(", ")}` }),
    profile: z.enum(PROFILE_NAMES, { error: `must be one of ${PROFILE_NAMES.join(", ")}` }).optional(),
    format: z.enum(OUTPUT_FORMATS, { error: `must be one of ${OUTPUT_FORMATS.join(", ")}` }).default("jpeg"),
    targetKb: z
      .number({ error: "must be a number of KB" })
      .int("must be a whole number of KB")
      .min(50, "must be at least 50")
      .max(2000, "must be at most 2000")
      .optional()
      .meta({
        description:
          "a budget in KB (1 KB = 1024 bytes): the output is never larger. When the encode at the format's normal quality (JPEG 85, WebP 82, AVIF 60, PNG lossless) fits, that is the output, however far under the budget (size_metadata outcome fits-at-default); only otherwise is a lower quality searched, landing within 10% under the budget, or the image scaled down when even the lowest quality is over. Never encoded above the normal quality to spend the budget.",
      }),
    maxSide: z.number().int().min(16, "must be at least 16").max(4096, "must be at most 4096").optional(),
    fullSide: z.boolean({ error: "must be true or false" }).optional().meta({
      description:
        "STANDARDIZE and FULL: always the profile's full side (2000 px for amazon), enlarging a small product as far as that takes. Without it the square is the profile's side only when the product has the pixels for it, else the side at which the product keeps its own size (at least the profile's smallest accepted side, the product enlarged at most 2x).",
    }),
  })
  .strict();

export type VariantSpec = z.output<typeof variantSpecSchema>;

export const variantSetSchema = z
  .array(variantSpecSchema)
  .min(1, "must name at least one variant")
  .max(8, "must name at most 8 variants")
  .refine(
    (specs) => new Set(specs.map((spec) => spec.name)).size === specs.length,
    "variant names must be unique",
  );

/** The default set of outputs (the pipeline's `VARIANT_SET` replaces it). */
export const DEFAULT_VARIANT_SET: readonly VariantSpec[] = [
  { name: "standard", mode: "STANDARDIZE", profile: "amazon", format: "jpeg" },
  { name: "enhanced", mode: "AUTO", format: "jpeg" },
  { name: "web", mode: "OPTIMIZE", format: "webp", targetKb: 200 },
  { name: "thumb", mode: "OPTIMIZE", format: "webp", maxSide: 400 },
];
