import { z } from "zod";
import { MODES } from "../engine/vocabulary.ts";

/**
 * What the pipeline asks Gemini, declared once: the analysis and its answer's schema, and the image edits.
 * A prompt's id goes into its variant's history row and XMP, so a change of wording is a new id.
 */

export const AI_PROBLEMS = ["blur", "lighting", "clutter", "text", "watermark", "multiple_products"] as const;

/** The analysis a photo gets, validated as it comes back: an answer that breaks it is a recorded failure. */
export const aiAnalysisSchema = z
  .object({
    product: z.string().min(1).max(200).describe("what the product in the photo is, in a few words"),
    background: z.string().min(1).max(200).describe("the background behind the product"),
    problems: z
      .array(z.enum(AI_PROBLEMS))
      .max(AI_PROBLEMS.length)
      .describe("problems the photo shows; empty when there are none"),
    recommendedMode: z.enum(MODES).describe("the enhancement mode this photo needs most"),
    altText: z.string().min(1).max(300).describe("alt text for the product image, one sentence"),
    suggestedTitle: z.string().min(1).max(200).describe("a marketplace title for the product"),
    suggestedCategory: z.string().min(1).max(100).describe("a marketplace category for the product"),
  })
  .strict();

export type AiAnalysis = z.output<typeof aiAnalysisSchema>;

/** The schema as Gemini's `responseJsonSchema` takes it (plain JSON Schema, no `$schema` line). */
export const aiAnalysisJsonSchema = (() => {
  const { $schema: _dialect, ...schema } = z.toJSONSchema(aiAnalysisSchema) as Record<string, unknown>;
  return schema;
})();

export const AI_ANALYSIS_PROMPT = {
  id: "analysis-v1",
  text: [
    "You are checking a seller's product photo before it goes on a marketplace.",
    "Describe the product and its background, list the problems the photo shows",
    `(${AI_PROBLEMS.join(", ")}; an empty list when there are none),`,
    `recommend the one enhancement mode it needs most (${MODES.join(", ")}),`,
    "and write alt text, a marketplace title and a category for it. Answer in the JSON schema given.",
  ].join(" "),
} as const;

/** The longest side the analysis is sent at: enough to see the product, few input tokens. */
export const AI_ANALYSIS_MAX_SIDE = 1024;

export interface AiEdit {
  /** The variant's name (and the prompt's id in its XMP and history row). */
  variant: string;
  promptId: string;
  prompt: string;
}

const KEEP_THE_PRODUCT =
  "Keep the product exactly as it is: the same shape, proportions, colours, materials, labels and text; add nothing, remove nothing, no props, no added text or watermark.";

/** The AI-edited variants, in order: `GEMINI_AI_VARIANTS` takes the first N. */
export const AI_EDITS: readonly AiEdit[] = [
  {
    variant: "ai-studio",
    promptId: "studio-white-v1",
    prompt: `Turn this photo into a clean studio product shot on a pure white (#FFFFFF) background, soft even light, the product centred and filling about 85% of a square frame. ${KEEP_THE_PRODUCT}`,
  },
  {
    variant: "ai-light",
    promptId: "light-colour-v1",
    prompt: `Correct this photo's lighting and colour: even exposure, neutral white balance, natural contrast, no blown highlights. Change nothing else: the same framing and background. ${KEEP_THE_PRODUCT}`,
  },
  {
    variant: "ai-detail",
    promptId: "detail-crop-v1",
    prompt: `Make a crisp square close-up of the product's most characteristic detail (its material, texture or label), sharp and well lit. ${KEEP_THE_PRODUCT}`,
  },
];
