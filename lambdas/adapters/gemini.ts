/**
 * The Gemini API behind the photo's analysis and its AI-edited variants, through Google's `@google/genai` SDK.
 *
 * Every call ends by the caller's deadline whatever the network does, and answers an `AiOutcome` instead of
 * throwing: 408, 429, 5xx, a timeout or a failed connection is tried again with back-off while the deadline
 * still leaves room for a whole attempt; anything else Gemini says is final on its first answer.
 */
import {
  ApiError,
  type Content,
  FinishReason,
  type GenerateContentConfig,
  type GenerateContentResponse,
  type GenerateContentResponseUsageMetadata,
  GoogleGenAI,
  Modality,
  type Part,
} from "@google/genai";
import type { AiCallRecord, AiEditor, AiFailureKind, AiImage, AiOutcome, AiUsage } from "../domain/ports.ts";
import { API_VERSION } from "./gemini-endpoint.ts";

export { probeGemini } from "./gemini-endpoint.ts";

export interface GeminiConfig {
  apiKey: string;
  /** `GEMINI_BASE_URL`: a local fake (`npm run fake-gemini`); Google's endpoint when absent. */
  baseUrl?: string | undefined;
  /** The model that analyses a photo into JSON, e.g. `gemini-3.8-flash`. */
  analysisModel: string;
  /** The model that edits a photo, e.g. `gemini-3.1-flash-image`. */
  imageModel: string;
  /** The longest one HTTP attempt may take; the caller's deadline may cut it shorter. */
  callTimeoutMs: number;
}

export interface GeminiOptions {
  /** A number in [0, 1) for the back-off's jitter (tests pass their own). */
  random?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

/** Google's transient answers (https://ai.google.dev/gemini-api/docs/troubleshooting); the rest are final. */
const RETRYABLE_STATUSES = new Set([408, 429, 500, 502, 503, 504]);
/** Full-jitter exponential back-off: a wait drawn from [0, min(cap, base × 2^retry)). */
const BACKOFF_BASE_MS = 400;
const BACKOFF_CAP_MS = 4_000;
/**
 * The shortest attempt worth starting after an overload or a failed connection: such answers come quickly,
 * but an attempt with less time than this would rarely see a generated answer. After a timeout the next
 * attempt needs the whole per-call timeout: the model already took longer than that once, and an aborted
 * call is still billed (the SDK's note on `abortSignal`).
 */
const MIN_ATTEMPT_MS = 1_000;
/** Reasons are stored on history rows and shown to people: long enough to act on, never a page. */
const MAX_MESSAGE_CHARS = 200;

/** Finish reasons that mean Gemini withheld the answer on policy grounds (SDK 3.3 `FinishReason`). */
const BLOCKED_FINISH_REASONS = new Set<string>([
  FinishReason.SAFETY,
  FinishReason.RECITATION,
  FinishReason.BLOCKLIST,
  FinishReason.PROHIBITED_CONTENT,
  FinishReason.SPII,
  FinishReason.IMAGE_SAFETY,
  FinishReason.IMAGE_PROHIBITED_CONTENT,
  FinishReason.IMAGE_RECITATION,
  // Vertex AI only, harmless here: the request is the same whichever backend refused it.
  FinishReason.MODEL_ARMOR,
]);
/** The account behind the key is suspended for policy violations: no photo will get through, so `rejected`. */
const ACCOUNT_FINISH_REASONS = new Set<string>([FinishReason.PUP_LIMITED_DISABLED]);
/** An image was asked for and the model produced none. */
const NO_IMAGE_FINISH_REASONS = new Set<string>([FinishReason.NO_IMAGE, FinishReason.IMAGE_OTHER]);

type Failure = { kind: AiFailureKind; reason: string };

/** What one attempt's error means: whether another attempt may help, and how long Google asked us to wait. */
type ErrorVerdict = Failure & { retryable: boolean; retryAfterMs?: number };

type Transported<R> = {
  attempts: number;
  latencyMs: number;
} & ({ ok: true; response: R } | ({ ok: false } & Failure));

const shorten = (text: string): string => {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > MAX_MESSAGE_CHARS ? `${flat.slice(0, MAX_MESSAGE_CHARS - 1)}…` : flat;
};

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/** `"37s"` / `"0.5s"` (a protobuf Duration in JSON) in milliseconds. */
const durationMs = (value: unknown): number | undefined => {
  if (typeof value !== "string") return undefined;
  const match = /^(\d+(?:\.\d+)?)s$/.exec(value.trim());
  return match?.[1] ? Math.round(Number(match[1]) * 1000) : undefined;
};

/**
 * The SDK's `ApiError` carries the status and the response body as JSON text, but not the headers: an HTTP
 * `Retry-After` is out of reach. Google says how long to wait in the body instead (`google.rpc.RetryInfo` on a
 * 429), and that is honoured.
 */
const describeApiError = (error: ApiError): { text: string; retryAfterMs?: number } => {
  let status = "";
  let message = error.message;
  let retryAfterMs: number | undefined;
  try {
    const body: unknown = JSON.parse(error.message);
    const inner = isRecord(body) && isRecord(body.error) ? body.error : undefined;
    if (inner) {
      if (typeof inner.status === "string") status = inner.status;
      if (typeof inner.message === "string") message = inner.message;
      if (Array.isArray(inner.details)) {
        for (const detail of inner.details) {
          if (isRecord(detail) && String(detail["@type"]).endsWith("google.rpc.RetryInfo")) {
            retryAfterMs = durationMs(detail.retryDelay);
          }
        }
      }
    }
  } catch {
    // Not JSON (a proxy's HTML page): the text is the message.
  }
  const text = `${error.status}${status ? ` ${status}` : ""}: ${shorten(message) || "(no message)"}`;
  return retryAfterMs === undefined ? { text } : { text, retryAfterMs };
};

/** The SDK aborts an attempt at its `timeout` with a plain `AbortError` (a `TimeoutError` from `AbortSignal.timeout`). */
const isAbort = (error: unknown): boolean =>
  error instanceof Error && (error.name === "AbortError" || error.name === "TimeoutError");

/** Undici's `fetch` fails a refused, reset or unresolvable connection with `TypeError("fetch failed", { cause })`. */
const networkCode = (error: unknown): string | undefined => {
  if (!(error instanceof TypeError)) return undefined;
  const cause: unknown = error.cause;
  if (isRecord(cause) && typeof cause.code === "string") return cause.code;
  if (cause instanceof Error) return cause.message || cause.name;
  return error.message === "fetch failed" ? "connection failed" : undefined;
};

const judgeError = (error: unknown, attemptMs: number): ErrorVerdict => {
  if (error instanceof ApiError) {
    const { text, retryAfterMs } = describeApiError(error);
    if (RETRYABLE_STATUSES.has(error.status)) {
      const verdict: ErrorVerdict = {
        kind: error.status === 408 ? "timeout" : "unavailable",
        reason: `Gemini answered ${text}`,
        retryable: true,
      };
      if (retryAfterMs !== undefined) verdict.retryAfterMs = retryAfterMs;
      return verdict;
    }
    return {
      kind: error.status >= 500 ? "unavailable" : "rejected",
      reason: `Gemini refused the request: ${text}`,
      retryable: false,
    };
  }
  if (isAbort(error)) {
    return { kind: "timeout", reason: `Gemini did not answer within ${attemptMs} ms`, retryable: true };
  }
  const code = networkCode(error);
  if (code !== undefined) {
    return { kind: "unavailable", reason: `could not reach Gemini (${code})`, retryable: true };
  }
  if (error instanceof SyntaxError) {
    return { kind: "invalid", reason: "Gemini's answer was not the JSON its API speaks", retryable: false };
  }
  // The SDK refuses some requests before sending them (a malformed model name): the request is wrong.
  const message = error instanceof Error ? error.message : String(error);
  return {
    kind: "rejected",
    reason: `the Gemini client refused the request: ${shorten(message)}`,
    retryable: false,
  };
};

const usageOf = (metadata: GenerateContentResponseUsageMetadata | undefined): AiUsage | null => {
  if (!metadata) return null;
  const promptTokens = metadata.promptTokenCount ?? 0;
  const outputTokens = metadata.candidatesTokenCount ?? 0;
  const thoughtTokens = metadata.thoughtsTokenCount ?? 0;
  return {
    promptTokens,
    outputTokens,
    thoughtTokens,
    totalTokens: metadata.totalTokenCount ?? promptTokens + outputTokens + thoughtTokens,
  };
};

/** Why Gemini gave no usable answer at all, whatever was asked: a blocked prompt or a withheld answer. */
const judgeRefusal = (response: GenerateContentResponse): Failure | undefined => {
  const blockReason = response.promptFeedback?.blockReason;
  if (blockReason) return { kind: "blocked", reason: `Gemini blocked the prompt (${blockReason})` };
  const finishReason = response.candidates?.[0]?.finishReason;
  if (finishReason && BLOCKED_FINISH_REASONS.has(finishReason)) {
    return { kind: "blocked", reason: `Gemini withheld the answer (finish reason ${finishReason})` };
  }
  if (finishReason && ACCOUNT_FINISH_REASONS.has(finishReason)) {
    return {
      kind: "rejected",
      reason: `Gemini refused this API key's account (finish reason ${finishReason})`,
    };
  }
  return undefined;
};

/** The answer's own parts, without the model's thoughts (thought summaries and draft "thought" images). */
const answerParts = (response: GenerateContentResponse): Part[] =>
  (response.candidates?.[0]?.content?.parts ?? []).filter((part) => part.thought !== true);

const answerText = (response: GenerateContentResponse): string =>
  answerParts(response)
    .map((part) => part.text ?? "")
    .join("");

const finishNote = (response: GenerateContentResponse): string => {
  const finishReason = response.candidates?.[0]?.finishReason;
  return finishReason ? ` (finish reason ${finishReason})` : "";
};

/** Base64 of the bytes without copying them first. */
const base64 = (bytes: Uint8Array): string =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");

const imageContents = (image: AiImage, prompt: string): Content[] => [
  {
    role: "user",
    parts: [{ inlineData: { mimeType: image.mimeType, data: base64(image.bytes) } }, { text: prompt }],
  },
];

const realSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export const createGeminiEditor = (config: GeminiConfig, options: GeminiOptions = {}): AiEditor => {
  const random = options.random ?? Math.random;
  const sleep = options.sleep ?? realSleep;
  const ai = new GoogleGenAI({
    apiKey: config.apiKey,
    apiVersion: API_VERSION,
    httpOptions: {
      ...(config.baseUrl ? { baseUrl: config.baseUrl } : {}),
      timeout: config.callTimeoutMs,
      // The SDK's own retries are off on purpose: they know nothing of the photo's AI budget and would keep
      // retrying (up to a minute apart by default) after the deadline. The loop below retries instead.
      retryOptions: { attempts: 1 },
    },
  });

  /** A reason must never carry the key, even if some error message ever echoes the request. */
  const redact = (reason: string): string =>
    config.apiKey ? reason.replaceAll(config.apiKey, "[api key]") : reason;

  /**
   * Sends until an answer, a final error, or a deadline that leaves no room for another attempt. `send` gets the
   * attempt's time limit: min(callTimeoutMs, time left).
   */
  const withRetries = async <R>(
    send: (timeoutMs: number) => Promise<R>,
    deadline: Date,
  ): Promise<Transported<R>> => {
    const started = Date.now();
    let attempts = 0;
    for (let retry = 0; ; retry++) {
      const left = deadline.getTime() - Date.now();
      if (left <= 0) {
        // Only reachable before the first attempt: later ones are never started without time for them.
        return {
          ok: false,
          kind: "timeout",
          reason: "the photo's AI budget was spent before the call began",
          attempts,
          latencyMs: 0,
        };
      }
      const attemptMs = Math.min(config.callTimeoutMs, left);
      attempts++;
      let verdict: ErrorVerdict;
      try {
        const response = await send(attemptMs);
        return { ok: true, response, attempts, latencyMs: Date.now() - started };
      } catch (error) {
        verdict = judgeError(error, attemptMs);
      }
      const latencyMs = Date.now() - started;
      const tried = attempts === 1 ? "" : ` (${attempts} attempts)`;
      if (!verdict.retryable) {
        return {
          ok: false,
          kind: verdict.kind,
          reason: redact(`${verdict.reason}${tried}`),
          attempts,
          latencyMs,
        };
      }
      const backoff = random() * Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** retry);
      const wait = Math.max(backoff, verdict.retryAfterMs ?? 0);
      const needed =
        verdict.kind === "timeout" ? config.callTimeoutMs : Math.min(config.callTimeoutMs, MIN_ATTEMPT_MS);
      if (Date.now() + wait + needed > deadline.getTime()) {
        const asked =
          verdict.retryAfterMs !== undefined && verdict.retryAfterMs > backoff
            ? `; Google asked to wait ${(verdict.retryAfterMs / 1000).toFixed(1)} s`
            : "";
        return {
          ok: false,
          kind: verdict.kind,
          reason: redact(
            `${verdict.reason}${tried}${asked}; no time for another attempt before the deadline`,
          ),
          attempts,
          latencyMs,
        };
      }
      await sleep(wait);
    }
  };

  const generate = (model: string, contents: Content[], request: GenerateContentConfig, deadline: Date) =>
    withRetries(
      (timeoutMs) =>
        ai.models.generateContent({
          model,
          contents,
          config: {
            ...request,
            // Per attempt; the SDK also tells Google (X-Server-Timeout) so it stops working for nobody.
            httpOptions: { timeout: timeoutMs },
            // Else a CONTINUATION answer makes the SDK send more requests, outside this budget and count.
            automaticContinuation: false,
          },
        }),
      deadline,
    );

  const record = (model: string, sent: Transported<GenerateContentResponse>): AiCallRecord => {
    const response = sent.ok ? sent.response : undefined;
    return {
      model,
      modelVersion: response?.modelVersion ?? null,
      responseId: response?.responseId ?? null,
      usage: usageOf(response?.usageMetadata),
      latencyMs: sent.latencyMs,
      attempts: sent.attempts,
    };
  };

  return {
    models: { analysis: config.analysisModel, image: config.imageModel },

    async analyse(image, request): Promise<AiOutcome<unknown>> {
      const model = config.analysisModel;
      const sent = await generate(
        model,
        imageContents(image, request.prompt),
        // `responseJsonSchema` takes plain JSON Schema; `responseSchema` takes the OpenAPI-subset `Schema` type.
        { responseMimeType: "application/json", responseJsonSchema: request.jsonSchema },
        request.deadline,
      );
      const call = record(model, sent);
      if (!sent.ok) return { ok: false, kind: sent.kind, reason: sent.reason, call };
      const refusal = judgeRefusal(sent.response);
      if (refusal) return { ok: false, ...refusal, call };
      const text = answerText(sent.response);
      if (!text.trim()) {
        return {
          ok: false,
          kind: "invalid",
          reason: `Gemini's answer held no text${finishNote(sent.response)}`,
          call,
        };
      }
      try {
        return { ok: true, value: JSON.parse(text) as unknown, call };
      } catch {
        return {
          ok: false,
          kind: "invalid",
          reason: `Gemini's answer is not JSON${finishNote(sent.response)}: ${shorten(text).slice(0, 80)}`,
          call,
        };
      }
    },

    async edit(image, request): Promise<AiOutcome<AiImage>> {
      const model = config.imageModel;
      const sent = await generate(
        model,
        imageContents(image, request.prompt),
        // IMAGE alone: Google's image-generation guide says the model answers text and image by default and
        // image only when asked; a caption would only cost output tokens.
        { responseModalities: [Modality.IMAGE] },
        request.deadline,
      );
      const call = record(model, sent);
      if (!sent.ok) return { ok: false, kind: sent.kind, reason: sent.reason, call };
      const refusal = judgeRefusal(sent.response);
      if (refusal) return { ok: false, ...refusal, call };
      const finishReason = sent.response.candidates?.[0]?.finishReason;
      // Not `response.data`: it joins every inline part, the model's draft "thought" images included.
      const part = answerParts(sent.response).find((candidate) => candidate.inlineData?.data);
      const data = part?.inlineData?.data;
      // NO_IMAGE and IMAGE_OTHER say generation stopped: whatever image part came with them is not a finished one.
      if (data && !(finishReason && NO_IMAGE_FINISH_REASONS.has(finishReason))) {
        return {
          ok: true,
          // Whether these bytes are an image is the engine's to judge: it decodes them.
          value: {
            bytes: new Uint8Array(Buffer.from(data, "base64")),
            mimeType: part?.inlineData?.mimeType ?? "application/octet-stream",
          },
          call,
        };
      }
      const said = shorten(answerText(sent.response)).slice(0, 120);
      return {
        ok: false,
        kind: "no-image",
        reason: `Gemini answered ${said ? `with text only ("${said}")` : "without an image"}${finishNote(sent.response)}`,
        call,
      };
    },

    async ping(deadline) {
      const left = deadline.getTime() - Date.now();
      if (left <= 0) return "unreachable";
      try {
        // A model lookup: answered by the API without spending tokens.
        await ai.models.get({
          model: config.analysisModel,
          config: { httpOptions: { timeout: Math.min(config.callTimeoutMs, left) } },
        });
        return "reachable";
      } catch (error) {
        // Any answer, even a 403 for a bad key, shows the API is there.
        return isAbort(error) || networkCode(error) !== undefined ? "unreachable" : "reachable";
      }
    },
  };
};
