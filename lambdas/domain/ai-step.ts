import {
  compareSameProduct,
  finishExternalImage,
  ImageError,
  type Preview,
  previewImage,
} from "../engine/index.ts";
import type { VariantSpec } from "../engine/variant-spec.ts";
import {
  AI_ANALYSIS_MAX_SIDE,
  AI_ANALYSIS_PROMPT,
  AI_EDITS,
  type AiEdit,
  aiAnalysisJsonSchema,
  aiAnalysisSchema,
} from "./ai-prompts.ts";
import { assetUrl, type WorkerDeps } from "./enhance-upload.ts";
import { enhancedKey } from "./object-keys.ts";
import type { AiEditor, AiOutcome, AiRecord } from "./ports.ts";

/**
 * The AI step of one photo: Gemini's analysis of it and its AI-edited variants, added to the sequence whose
 * sharp variants already took the product to `pending_review`. It runs as a message of its own, so it never
 * delays them, and inside a budget: every call ends by the deadline, and whatever Gemini does is recorded
 * as a result or a failure with its reason; nothing of it fails the product.
 */

/** The queue message that asks for a sequence's AI step. */
export interface AiStepMessage {
  type: "ai";
  productId: string;
  sequence: number;
}

export interface AiStepSettings {
  /** How many of `AI_EDITS` each photo gets. */
  aiVariants: number;
  budgetSeconds: number;
  /** Gemini calls of one photo in flight at once. */
  concurrency: number;
}

/** The editor, built at the first AI step of the process (the key is read then), or why there is none. */
export type AiEditorSource = () => Promise<{ editor: AiEditor } | { unavailable: string }>;

export interface AiStepDeps extends WorkerDeps {
  editor: AiEditorSource;
  aiSettings: AiStepSettings;
}

export type AiStepOutcome =
  | {
      kind: "ai";
      productId: string;
      sequence: number;
      made: string[];
      needsAttention: string[];
      failed: { what: string; reason: string }[];
      calls: number;
    }
  | { kind: "skipped"; reason: string };

/** The AI variants are JPEGs of at most 2000 px, the size of the engine's own `standard`. */
const aiVariantSpec = (edit: AiEdit): VariantSpec => ({
  name: edit.variant,
  mode: "OPTIMIZE",
  format: "jpeg",
  maxSide: 2000,
});

/** A claim lasts longer than the budget by what storing the last results can take. */
const CLAIM_MARGIN_SECONDS = 30;

/** Runs `tasks` with at most `limit` in flight, in order of start. */
const inParallel = async <T>(tasks: (() => Promise<T>)[], limit: number): Promise<T[]> => {
  const results: T[] = new Array(tasks.length);
  let next = 0;
  const lane = async () => {
    while (next < tasks.length) {
      const index = next;
      next += 1;
      results[index] = await (tasks[index] as () => Promise<T>)();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, lane));
  return results;
};

const failedRecord = (
  variant: string | null,
  outcome: Extract<AiOutcome<unknown>, { ok: false }>,
): AiRecord => ({
  kind: "failed",
  variant,
  failure: outcome.kind,
  reason: outcome.reason,
  call: outcome.call,
});

export const runAiStep = async (deps: AiStepDeps, message: AiStepMessage): Promise<AiStepOutcome> => {
  const { repository, objectStore, settings, clock, log } = deps;
  const { productId, sequence } = message;
  const state = await repository.aiStepState(productId, sequence);
  if (!state) return { kind: "skipped", reason: `product ${productId} does not exist` };
  if (state.lastSequence !== sequence) {
    return { kind: "skipped", reason: `sequence ${sequence} is no longer the product's newest photo` };
  }
  // A reviewer who decided before the AI step ran has no use for it: Gemini's calls are the step's cost.
  if (state.status !== "pending_review") {
    return { kind: "skipped", reason: `the product is ${state.status}: it no longer waits for review` };
  }
  const edits = AI_EDITS.slice(0, deps.aiSettings.aiVariants).filter(
    (edit) => !state.settledVariants.includes(edit.variant),
  );
  if (edits.length === 0 && state.analysisSettled) {
    return { kind: "skipped", reason: `the AI step of sequence ${sequence} is already done` };
  }
  if (!state.original) return { kind: "skipped", reason: `sequence ${sequence} has no photo` };
  const source = await deps.editor();
  if ("unavailable" in source) {
    await repository.recordAiSkipped(productId, sequence, source.unavailable, clock());
    return { kind: "skipped", reason: source.unavailable };
  }
  const { editor } = source;

  // Two deliveries of one message must not both pay for the same calls: the second finds the step taken.
  const started = clock();
  const budgetMs = deps.aiSettings.budgetSeconds * 1000;
  const claimUntil = new Date(started.getTime() + budgetMs + CLAIM_MARGIN_SECONDS * 1000);
  if (!(await repository.claimAiStep(productId, sequence, claimUntil, started))) {
    return { kind: "skipped", reason: `another delivery is running the AI step of sequence ${sequence}` };
  }
  try {
    const photo = await objectStore.get(state.original.bucket, state.original.key);
    if (!photo) {
      const reason = "the photo is no longer stored, so it got no AI step";
      await repository.recordAiSkipped(productId, sequence, reason, clock());
      return { kind: "skipped", reason };
    }
    let preview: Preview;
    try {
      preview = await previewImage(photo, {
        maxSide: AI_ANALYSIS_MAX_SIDE,
        maxPixels: settings.maxInputPixels,
      });
    } catch (error) {
      if (!(error instanceof ImageError)) throw error;
      const reason = `the photo could not be prepared for Gemini: ${error.message}`;
      await repository.recordAiSkipped(productId, sequence, reason, clock());
      return { kind: "skipped", reason };
    }
    const deadline = new Date(started.getTime() + budgetMs);
    const image = { bytes: preview.bytes, mimeType: preview.mimeType };
    const made: string[] = [];
    const needsAttention: string[] = [];
    const failed: { what: string; reason: string }[] = [];
    let calls = 0;
    const record = async (result: AiRecord) => {
      await repository.recordAi(productId, sequence, result, clock());
      await deps.push?.productChanged(productId);
      calls += result.kind === "failed" ? (result.call?.attempts ?? 0) : result.call.attempts;
      if (result.kind === "failed")
        failed.push({ what: result.variant ?? "analysis", reason: result.reason });
    };

    const analyse = async () => {
      const outcome = await editor.analyse(image, {
        prompt: AI_ANALYSIS_PROMPT.text,
        jsonSchema: aiAnalysisJsonSchema,
        deadline,
      });
      if (!outcome.ok) return record(failedRecord(null, outcome));
      const parsed = aiAnalysisSchema.safeParse(outcome.value);
      if (!parsed.success) {
        const problems = parsed.error.issues
          .slice(0, 5)
          .map((issue) => `${issue.path.join(".") || "(answer)"}: ${issue.message}`);
        return record({
          kind: "failed",
          variant: null,
          failure: "invalid",
          reason: `the analysis broke its schema: ${problems.join("; ")}`,
          call: outcome.call,
        });
      }
      return record({
        kind: "analysis",
        call: outcome.call,
        analysis: {
          ...parsed.data,
          model: outcome.call.model,
          modelVersion: outcome.call.modelVersion,
          responseId: outcome.call.responseId,
          promptId: AI_ANALYSIS_PROMPT.id,
          analysedAt: clock().toISOString(),
        },
      });
    };

    const edit = (aiEdit: AiEdit) => async () => {
      const outcome = await editor.edit(image, { prompt: aiEdit.prompt, deadline });
      if (!outcome.ok) return record(failedRecord(aiEdit.variant, outcome));
      const spec = aiVariantSpec(aiEdit);
      try {
        const finishStarted = performance.now();
        const finished = await finishExternalImage(outcome.value.bytes, {
          spec,
          maxPixels: settings.maxInputPixels,
          provenance: {
            generator: outcome.call.modelVersion ?? outcome.call.model,
            promptId: aiEdit.promptId,
            createdAt: clock(),
          },
        });
        const guardrail = await compareSameProduct(preview.bytes, finished.encoded.body);
        const key = enhancedKey(productId, sequence, aiEdit.variant, finished.encoded.extension);
        await objectStore.put(
          settings.enhancedBucket,
          key,
          finished.encoded.body,
          finished.encoded.contentType,
        );
        const flagged = guardrail.verdict === "needs_attention";
        await record({
          kind: "variant",
          promptId: aiEdit.promptId,
          call: outcome.call,
          image: {
            variant: aiEdit.variant,
            mode: "AI",
            key,
            url: assetUrl(settings, key),
            format: finished.encoded.format,
            width: finished.encoded.width,
            height: finished.encoded.height,
            bytes: finished.encoded.bytes,
            processingMs: outcome.call.latencyMs + (performance.now() - finishStarted),
            qualityMetadata: {
              after: finished.quality.scores,
              measurementsAfter: finished.quality.measurements,
              promptId: aiEdit.promptId,
              generator: outcome.call.modelVersion ?? outcome.call.model,
            },
            sizeMetadata: { ...finished.encoded.size },
            needsAttention: flagged,
            guardrail: { ...guardrail },
          },
        });
        made.push(aiEdit.variant);
        if (flagged) needsAttention.push(aiEdit.variant);
      } catch (error) {
        if (!(error instanceof ImageError)) throw error;
        await record({
          kind: "failed",
          variant: aiEdit.variant,
          failure: "unusable",
          reason: `Gemini's image is unusable: ${error.message}`,
          call: outcome.call,
        });
      }
    };

    const tasks = [...(state.analysisSettled ? [] : [analyse]), ...edits.map(edit)];
    await inParallel(tasks, deps.aiSettings.concurrency);
    const outcome = { kind: "ai" as const, productId, sequence, made, needsAttention, failed, calls };
    log.info("AI step done", {
      productId,
      sequence,
      made,
      needsAttention,
      failed: failed.map((failure) => `${failure.what}: ${failure.reason}`),
      calls,
      milliseconds: clock().getTime() - started.getTime(),
    });
    return outcome;
  } finally {
    await repository.releaseAiStep(productId, sequence);
  }
};
