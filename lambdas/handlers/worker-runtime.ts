/**
 * Wiring for the enhance worker alone: the engine (sharp) and the Gemini SDK are its dependencies, so they
 * stay out of the API functions' bundles, which import `runtime.ts` only.
 */

import { createGeminiEditor } from "../adapters/gemini.ts";
import { readGeminiKey } from "../adapters/gemini-key.ts";
import { logger } from "../adapters/logger.ts";
import { createObjectStore, createS3Client } from "../adapters/object-store.ts";
import { createProductRepository } from "../adapters/product-repository.ts";
import { createEnhanceQueue, createSqsClient } from "../adapters/queue.ts";
import type { Config } from "../config.ts";
import type { AiEditorSource, AiStepSettings } from "../domain/ai-step.ts";
import { AI_NOT_CONFIGURED, type WorkerDeps } from "../domain/enhance-upload.ts";
import type { EnhanceQueue } from "../domain/ports.ts";
import { ENV } from "../names.ts";
import { processConfig, processDb, processPublisher } from "./runtime.ts";

/**
 * Gemini for the worker: the editor is built at the first AI step of the process, when the key is read
 * (from the environment locally, from its secret in AWS); without a key the AI step is off, said once here
 * and in every photo's history.
 */
const aiStepFromConfig = (cfg: Config): { editor: AiEditorSource; settings: AiStepSettings } | undefined => {
  const { gemini } = cfg;
  const key = gemini.key;
  if (!key) return undefined;
  let editor: ReturnType<AiEditorSource> | undefined;
  const build: AiEditorSource = async () => {
    const found = key.kind === "value" ? { key: key.value } : await readGeminiKey(key.arn);
    if ("missing" in found) return { unavailable: `the AI step was skipped: ${found.missing}` };
    return {
      editor: createGeminiEditor({
        apiKey: found.key,
        ...(gemini.baseUrl ? { baseUrl: gemini.baseUrl } : {}),
        analysisModel: gemini.analysisModel,
        imageModel: gemini.imageModel,
        callTimeoutMs: gemini.callTimeoutMs,
      }),
    };
  };
  return {
    editor: () => {
      // A failed read (Secrets Manager unreachable) is tried again by the next AI step, not remembered.
      editor ??= build().catch((error: unknown) => {
        editor = undefined;
        throw error;
      });
      return editor;
    },
    settings: {
      aiVariants: gemini.aiVariants,
      budgetSeconds: gemini.budgetSeconds,
      concurrency: gemini.concurrency,
    },
  };
};

export const workerDepsFromEnvironment = (): WorkerDeps & {
  maxReceiveCount: number;
  queue: EnhanceQueue;
  aiStep: ReturnType<typeof aiStepFromConfig>;
} => {
  const cfg = processConfig();
  const queue = createEnhanceQueue(
    createSqsClient({ region: cfg.region, endpoint: cfg.sqsEndpoint }),
    cfg.enhanceQueueUrl,
  );
  const aiStep = aiStepFromConfig(cfg);
  if (!aiStep)
    logger.info(`${AI_NOT_CONFIGURED}: set ${ENV.geminiApiKey} (or ${ENV.geminiApiKeySecretArn} in AWS)`);
  return {
    repository: createProductRepository(processDb()),
    objectStore: createObjectStore(createS3Client({ region: cfg.region, endpoint: cfg.s3Endpoint })),
    queue,
    settings: cfg,
    clock: () => new Date(),
    log: logger,
    maxReceiveCount: cfg.maxReceiveCount,
    ai: aiStep
      ? { kind: "queue", send: (message) => queue.send({ ...message }) }
      : { kind: "off", reason: AI_NOT_CONFIGURED },
    aiStep,
    push: processPublisher(),
  };
};
