/**
 * A local stand-in for the Gemini API, speaking the REST shape `@google/genai` uses under v1beta:
 * `POST /v1beta/models/{model}:generateContent` and `GET /v1beta/models/{model}`, the key in `x-goog-api-key`.
 *
 * By default an image request (`responseModalities` holding IMAGE) gets the incoming photo back with a plainly
 * visible "FAKE GEMINI" banner on it, so it still shows the same object and nobody mistakes it for a real edit;
 * any other request gets a plausible analysis as JSON. `script()` queues other answers for the next requests:
 * Google's errors, blocks, finish reasons, text-only answers, thought images, bytes that are not an image, a
 * slow answer, a different object. Answers carry `usageMetadata`, `modelVersion` and `responseId` like Google's.
 */
import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import sharp, { type Sharp } from "sharp";

export type FakeCallKind = "analysis" | "edit" | "get";

/** What one request asked, summarised (never the image itself: the fake keeps every call for the tests). */
export interface FakeCall {
  kind: FakeCallKind;
  model: string;
  at: Date;
  path: string;
  /** Whether the request carried an API key (header or `?key=`). */
  hasKey: boolean;
  /** `generationConfig.responseModalities`, as sent. */
  responseModalities?: string[];
  responseMimeType?: string;
  responseJsonSchema?: unknown;
  /** The request's text parts, joined. */
  prompt?: string;
  /** The MIME types and decoded sizes of the request's inline images. */
  images?: { mimeType: string; bytes: number }[];
  /** The `X-Server-Timeout` header the SDK sends when it has a timeout (seconds). */
  serverTimeout?: string;
  /** Which behaviour answered it. */
  behaviour?: FakeBehaviour["kind"];
}

/** The fields the pipeline's analysis asks for; `{ kind: "analysis", answer }` overrides any of them. */
export const DEFAULT_ANALYSIS: Record<string, unknown> = {
  product: "ceramic coffee mug",
  background: "cluttered kitchen counter",
  problems: ["clutter", "lighting"],
  recommendedMode: "STANDARDIZE",
  altText: "A white ceramic coffee mug with a curved handle",
  suggestedTitle: "White Ceramic Coffee Mug, 350 ml",
  suggestedCategory: "Home & Kitchen > Mugs",
};

/** What the next generateContent request gets; `times` repeats it for that many requests (default 1). */
export type FakeBehaviour = (
  | /** The incoming image with the FAKE GEMINI banner (the default for image requests). */ { kind: "image" }
  | /** A JSON analysis: the default one with `answer`'s fields over it (the default for other requests). */ {
      kind: "analysis";
      answer?: Record<string, unknown>;
    }
  | /** JSON that parses but breaks the pipeline's schema (wrong types, an unknown problem). */ {
      kind: "off-schema";
    }
  | /** Google's error body with this status (400, 403, 404, 429, 500, 503…); 429 may say how long to wait. */ {
      kind: "error";
      status: number;
      message?: string;
      retryDelaySeconds?: number;
    }
  | /** `promptFeedback.blockReason` and no candidates. */ { kind: "prompt-blocked"; reason?: string }
  | /** A candidate that stopped for this reason (SAFETY, IMAGE_SAFETY, NO_IMAGE…) with no image. */ {
      kind: "finish";
      reason: string;
      text?: string;
    }
  | /** A text-only answer (for an analysis: text that is not JSON). */ { kind: "text"; text?: string }
  | /** `count` draft "thought" images (grey, labelled THOUGHT) before the real, bannered one. */ {
      kind: "thought-images";
      count?: number;
    }
  | /** Random bytes declared as an image. */ { kind: "not-an-image"; mimeType?: string; bytes?: number }
  | /** Answers `then` (default: the default answer) only after `delayMs`, if the client still waits. */ {
      kind: "slow";
      delayMs: number;
      then?: FakeBehaviour;
    }
  | /** An image of something else entirely (a drawn shape in other colours), bannered too. */ {
      kind: "different-object";
    }
) & { times?: number };

export interface FakeGemini {
  /** `http://127.0.0.1:{port}`: give it as `GEMINI_BASE_URL`. */
  url: string;
  /** Every request, in arrival order. */
  calls: FakeCall[];
  /** Queues what the next generateContent requests get, in order; when the queue is empty, the default. */
  script(...behaviours: FakeBehaviour[]): void;
  /** Empties the queue and the calls. */
  reset(): void;
  stop(): Promise<void>;
}

export interface FakeGeminiOptions {
  /** 0 or absent: any free port. */
  port?: number;
  /** Fixed latency added to every answer, errors included. */
  latencyMs?: number;
  /** Told of every request as it arrives (the command line prints them). */
  onCall?: (call: FakeCall) => void;
}

/** Google rejects a request body over 20 MiB of inline data with a 400; so does the fake. */
const MAX_BODY_BYTES = 20 * 1024 * 1024;
/** What Google's current image models produce by default ("1K"): the fake answers no larger. */
const OUTPUT_EDGE = 1024;
const BANNER = "FAKE GEMINI — not a real AI edit";
/** Token counts of the order Google reports for one input image and one 1K output image. */
const IMAGE_INPUT_TOKENS = 1_120;
const IMAGE_OUTPUT_TOKENS = 1_290;

/** Google's canonical error texts and statuses (google.rpc.Code), as the Gemini API sends them. */
const GOOGLE_ERRORS: Record<number, { status: string; message: string }> = {
  400: { status: "INVALID_ARGUMENT", message: "Request contains an invalid argument." },
  401: {
    status: "UNAUTHENTICATED",
    message: "Request had invalid authentication credentials. Expected OAuth 2 access token or API key.",
  },
  403: {
    status: "PERMISSION_DENIED",
    message:
      "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
  },
  404: {
    status: "NOT_FOUND",
    message:
      "models/{model} is not found for API version v1beta, or is not supported for generateContent. Call ListModels to see the list of available models and their supported methods.",
  },
  408: { status: "DEADLINE_EXCEEDED", message: "The request timed out." },
  429: {
    status: "RESOURCE_EXHAUSTED",
    message:
      "You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.",
  },
  500: {
    status: "INTERNAL",
    message:
      "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting",
  },
  502: { status: "UNAVAILABLE", message: "Bad Gateway" },
  503: { status: "UNAVAILABLE", message: "The model is overloaded. Please try again later." },
  504: { status: "DEADLINE_EXCEEDED", message: "The request timed out. Please try again." },
};

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

const escapeXml = (text: string): string => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** Google's response ids: about 23 characters of base64url. */
const responseId = (): string => randomBytes(17).toString("base64url");

const textTokens = (text: string): number => Math.max(1, Math.ceil(text.length / 4));

/** A red band across the top with white text, sized to the image. */
const bannerSvg = (width: number, height: number, text: string): Buffer => {
  const band = Math.max(24, Math.round(height * 0.1));
  // DejaVu Sans bold is about 0.62 em per character: keep the text inside 92% of the width.
  const fontSize = Math.max(
    8,
    Math.min(Math.round(band * 0.55), Math.floor((width * 0.92) / (text.length * 0.62))),
  );
  return Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${band}">` +
      `<rect width="${width}" height="${band}" fill="#d0021b"/>` +
      `<text x="${width / 2}" y="${band / 2}" dominant-baseline="central" text-anchor="middle" ` +
      `font-family="DejaVu Sans, Arial, Helvetica, sans-serif" font-weight="bold" font-size="${fontSize}" fill="#ffffff">` +
      `${escapeXml(text)}</text></svg>`,
  );
};

const bannered = async (image: Sharp, text = BANNER): Promise<Buffer> => {
  const fitted = await image
    .rotate()
    .resize(OUTPUT_EDGE, OUTPUT_EDGE, { fit: "inside", withoutEnlargement: true })
    .png()
    .toBuffer({ resolveWithObject: true });
  const { width, height } = fitted.info;
  return sharp(fitted.data)
    .composite([{ input: bannerSvg(width, height, text), top: 0, left: 0 }])
    .png()
    .toBuffer();
};

/** Something else entirely: a yellow star on blue, the input's aspect ratio. */
const differentObject = async (width: number, height: number): Promise<Buffer> => {
  const scale = Math.min(1, OUTPUT_EDGE / Math.max(width, height));
  const w = Math.max(64, Math.round(width * scale));
  const h = Math.max(64, Math.round(height * scale));
  const r = Math.min(w, h) * 0.35;
  const points = Array.from({ length: 10 }, (_, i) => {
    const angle = (Math.PI / 5) * i - Math.PI / 2;
    const radius = i % 2 === 0 ? r : r * 0.45;
    return `${(w / 2 + radius * Math.cos(angle)).toFixed(1)},${(h / 2 + radius * Math.sin(angle)).toFixed(1)}`;
  }).join(" ");
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}"><rect width="${w}" height="${h}" fill="#1f4fbf"/><polygon points="${points}" fill="#ffd400"/></svg>`;
  return bannered(sharp(Buffer.from(svg)), "FAKE GEMINI — a different object");
};

const thoughtImage = (index: number): Promise<Buffer> =>
  sharp(
    Buffer.from(
      `<svg xmlns="http://www.w3.org/2000/svg" width="256" height="256"><rect width="256" height="256" fill="#808080"/>` +
        `<text x="128" y="128" dominant-baseline="central" text-anchor="middle" font-family="DejaVu Sans, sans-serif" font-size="28" fill="#000000">THOUGHT ${index + 1}</text></svg>`,
    ),
  )
    .png()
    .toBuffer();

/** A placeholder value for a JSON Schema, for fields the default analysis lacks. */
const sampleFor = (schema: unknown): unknown => {
  if (!isRecord(schema)) return null;
  if (Array.isArray(schema.enum) && schema.enum.length > 0) return schema.enum[0];
  const type = Array.isArray(schema.type) ? schema.type.find((t) => t !== "null") : schema.type;
  switch (type) {
    case "string":
      return "fake";
    case "number":
    case "integer":
      return typeof schema.minimum === "number" ? schema.minimum : 0;
    case "boolean":
      return false;
    case "array":
      return [];
    case "object":
      return fillObject({}, schema);
    default:
      return null;
  }
};

/** The answer with every required property the schema names that it lacks, filled in plausibly. */
const fillObject = (answer: Record<string, unknown>, schema: unknown): Record<string, unknown> => {
  if (!isRecord(schema) || !isRecord(schema.properties)) return answer;
  const required = Array.isArray(schema.required) ? schema.required.filter((r) => typeof r === "string") : [];
  const filled = { ...answer };
  for (const name of required) {
    if (!(name in filled)) filled[name] = sampleFor(schema.properties[name]);
  }
  return filled;
};

interface ParsedRequest {
  contents: { parts: Record<string, unknown>[] }[];
  generationConfig: Record<string, unknown>;
}

const parseRequest = (body: unknown): ParsedRequest => {
  const root = isRecord(body) ? body : {};
  const contents = (Array.isArray(root.contents) ? root.contents : []).filter(isRecord).map((content) => ({
    parts: (Array.isArray(content.parts) ? content.parts : []).filter(isRecord),
  }));
  return { contents, generationConfig: isRecord(root.generationConfig) ? root.generationConfig : {} };
};

const inlineImages = (request: ParsedRequest): { mimeType: string; data: Buffer }[] =>
  request.contents.flatMap((content) =>
    content.parts.flatMap((part) => {
      const inline = part.inlineData;
      return isRecord(inline) && typeof inline.data === "string"
        ? [{ mimeType: String(inline.mimeType ?? ""), data: Buffer.from(inline.data, "base64") }]
        : [];
    }),
  );

const promptOf = (request: ParsedRequest): string =>
  request.contents
    .flatMap((content) => content.parts.map((part) => (typeof part.text === "string" ? part.text : "")))
    .join("");

class HttpFailure extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

export const startFakeGemini = async (options: FakeGeminiOptions = {}): Promise<FakeGemini> => {
  const calls: FakeCall[] = [];
  const queue: { behaviour: FakeBehaviour; left: number }[] = [];
  const pending = new Set<{ timer: NodeJS.Timeout; resolve: () => void }>();
  let stopped = false;

  /** A wait that `stop()` cuts short, so a slow answer never holds the fake open. */
  const wait = (ms: number): Promise<void> =>
    ms <= 0
      ? Promise.resolve()
      : new Promise((resolve) => {
          const entry = {
            timer: setTimeout(() => {
              pending.delete(entry);
              resolve();
            }, ms),
            resolve,
          };
          pending.add(entry);
        });

  const next = (): FakeBehaviour | undefined => {
    const head = queue[0];
    if (!head) return undefined;
    head.left--;
    if (head.left <= 0) queue.shift();
    return head.behaviour;
  };

  const sendJson = (response: ServerResponse, status: number, body: unknown): void => {
    if (stopped || response.destroyed || response.writableEnded) return;
    const text = JSON.stringify(body);
    response.writeHead(status, {
      "content-type": "application/json; charset=UTF-8",
      "content-length": Buffer.byteLength(text),
    });
    response.end(text);
  };

  const googleError = (status: number, model: string, message?: string, retryDelaySeconds?: number) => {
    const known = GOOGLE_ERRORS[status] ?? {
      status: status >= 500 ? "UNKNOWN" : "FAILED_PRECONDITION",
      message: "",
    };
    const error: Record<string, unknown> = {
      code: status,
      message: message ?? known.message.replace("{model}", model),
      status: known.status,
    };
    if (retryDelaySeconds !== undefined) {
      error.details = [
        { "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay: `${retryDelaySeconds}s` },
      ];
    }
    return { error };
  };

  const answer = (
    model: string,
    request: ParsedRequest,
    parts: Record<string, unknown>[],
    usage: { output: number; thoughts: number },
    finishReason = "STOP",
  ) => {
    const images = inlineImages(request).length;
    const text = textTokens(promptOf(request));
    const prompt = text + images * IMAGE_INPUT_TOKENS;
    return {
      candidates: [{ content: { role: "model", parts }, finishReason, index: 0 }],
      usageMetadata: {
        promptTokenCount: prompt,
        candidatesTokenCount: usage.output,
        ...(usage.thoughts > 0 ? { thoughtsTokenCount: usage.thoughts } : {}),
        totalTokenCount: prompt + usage.output + usage.thoughts,
        promptTokensDetails: [
          { modality: "TEXT", tokenCount: text },
          ...(images > 0 ? [{ modality: "IMAGE", tokenCount: images * IMAGE_INPUT_TOKENS }] : []),
        ],
      },
      modelVersion: model,
      responseId: responseId(),
    };
  };

  const imagePart = (data: Buffer, mimeType = "image/png") => ({
    inlineData: { mimeType, data: data.toString("base64") },
    // Google's image models sign their final image part; clients hand it back in a multi-turn edit.
    thoughtSignature: randomBytes(24).toString("base64"),
  });

  const sourceImage = (request: ParsedRequest): Sharp => {
    const image = inlineImages(request)[0];
    if (!image) throw new HttpFailure(400, "The request holds no image to edit.");
    return sharp(image.data);
  };

  /** Google's own answer to an image it cannot decode. */
  const undecodable = () =>
    new HttpFailure(
      400,
      "Unable to process input image. Please retry or report in https://developers.generativeai.google/guide/troubleshooting",
    );

  const respond = async (
    behaviour: FakeBehaviour,
    model: string,
    request: ParsedRequest,
    kind: FakeCallKind,
    response: ServerResponse,
  ): Promise<void> => {
    switch (behaviour.kind) {
      case "image": {
        const edited = await bannered(sourceImage(request)).catch(() => {
          throw undecodable();
        });
        return sendJson(
          response,
          200,
          answer(model, request, [imagePart(edited)], { output: IMAGE_OUTPUT_TOKENS, thoughts: 212 }),
        );
      }
      case "analysis": {
        const schema = request.generationConfig.responseJsonSchema ?? request.generationConfig.responseSchema;
        const value = fillObject({ ...DEFAULT_ANALYSIS, ...behaviour.answer }, schema);
        const text = JSON.stringify(value);
        return sendJson(
          response,
          200,
          answer(model, request, [{ text }], { output: textTokens(text), thoughts: 384 }),
        );
      }
      case "off-schema": {
        const text = JSON.stringify({ product: 42, problems: ["sparkles"], recommendedMode: null });
        return sendJson(
          response,
          200,
          answer(model, request, [{ text }], { output: textTokens(text), thoughts: 0 }),
        );
      }
      case "error":
        return sendJson(
          response,
          behaviour.status,
          googleError(behaviour.status, model, behaviour.message, behaviour.retryDelaySeconds),
        );
      case "prompt-blocked":
        return sendJson(response, 200, {
          promptFeedback: { blockReason: behaviour.reason ?? "SAFETY" },
          usageMetadata: { promptTokenCount: IMAGE_INPUT_TOKENS, totalTokenCount: IMAGE_INPUT_TOKENS },
          modelVersion: model,
          responseId: responseId(),
        });
      case "finish": {
        const parts = behaviour.text ? [{ text: behaviour.text }] : [];
        return sendJson(
          response,
          200,
          answer(
            model,
            request,
            parts,
            { output: behaviour.text ? textTokens(behaviour.text) : 0, thoughts: 0 },
            behaviour.reason,
          ),
        );
      }
      case "text": {
        const text =
          behaviour.text ??
          (kind === "edit"
            ? "Here is the product on a clean white background, with softer shadows."
            : "The photo shows a ceramic mug on a kitchen counter.");
        return sendJson(
          response,
          200,
          answer(model, request, [{ text }], { output: textTokens(text), thoughts: 96 }),
        );
      }
      case "thought-images": {
        const count = behaviour.count ?? 2;
        const thoughts = await Promise.all(Array.from({ length: count }, (_, i) => thoughtImage(i)));
        const edited = await bannered(sourceImage(request)).catch(() => {
          throw undecodable();
        });
        const parts = [
          ...thoughts.map((data) => ({
            inlineData: { mimeType: "image/png", data: data.toString("base64") },
            thought: true,
          })),
          imagePart(edited),
        ];
        return sendJson(
          response,
          200,
          answer(model, request, parts, {
            output: IMAGE_OUTPUT_TOKENS,
            thoughts: count * IMAGE_OUTPUT_TOKENS,
          }),
        );
      }
      case "not-an-image":
        return sendJson(
          response,
          200,
          answer(
            model,
            request,
            [imagePart(randomBytes(behaviour.bytes ?? 4096), behaviour.mimeType ?? "image/png")],
            { output: IMAGE_OUTPUT_TOKENS, thoughts: 0 },
          ),
        );
      case "slow":
        await wait(behaviour.delayMs);
        return respond(behaviour.then ?? defaultFor(kind), model, request, kind, response);
      case "different-object": {
        const { width = 1024, height = 1024 } = await sourceImage(request)
          .metadata()
          .catch(() => ({ width: 1024, height: 1024 }));
        const drawn = await differentObject(width, height);
        return sendJson(
          response,
          200,
          answer(model, request, [imagePart(drawn)], { output: IMAGE_OUTPUT_TOKENS, thoughts: 212 }),
        );
      }
    }
  };

  const defaultFor = (kind: FakeCallKind): FakeBehaviour =>
    kind === "edit" ? { kind: "image" } : { kind: "analysis" };

  const readBody = (request: IncomingMessage): Promise<Buffer> =>
    new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      request.on("data", (chunk: Buffer) => {
        size += chunk.length;
        if (size <= MAX_BODY_BYTES) chunks.push(chunk);
      });
      request.on("end", () => {
        if (size > MAX_BODY_BYTES) {
          reject(new HttpFailure(400, `Request payload size exceeds the limit: ${MAX_BODY_BYTES} bytes.`));
        } else resolve(Buffer.concat(chunks));
      });
      request.on("error", reject);
    });

  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const url = new URL(request.url ?? "/", "http://fake");
    const hasKey = Boolean(request.headers["x-goog-api-key"] || url.searchParams.get("key"));
    const serverTimeout = request.headers["x-server-timeout"];
    const generate = /^\/v1beta\/models\/([^/:]+):generateContent$/.exec(url.pathname);
    const describe = /^\/v1beta\/models\/([^/:]+)$/.exec(url.pathname);
    let model = "";
    try {
      if (request.method === "POST" && generate?.[1]) {
        model = decodeURIComponent(generate[1]);
        const raw = await readBody(request);
        let body: unknown;
        try {
          body = JSON.parse(raw.toString("utf8"));
        } catch {
          throw new HttpFailure(400, "Invalid JSON payload received.");
        }
        const parsed = parseRequest(body);
        const modalities = parsed.generationConfig.responseModalities;
        const responseModalities = Array.isArray(modalities) ? modalities.map(String) : undefined;
        const kind: FakeCallKind = responseModalities?.some((m) => m.toUpperCase() === "IMAGE")
          ? "edit"
          : "analysis";
        const scripted = hasKey ? next() : undefined;
        const behaviour = scripted ?? defaultFor(kind);
        const call: FakeCall = {
          kind,
          model,
          at: new Date(),
          path: url.pathname,
          hasKey,
          prompt: promptOf(parsed),
          images: inlineImages(parsed).map((image) => ({
            mimeType: image.mimeType,
            bytes: image.data.length,
          })),
          ...(hasKey ? { behaviour: behaviour.kind } : {}),
        };
        if (responseModalities) call.responseModalities = responseModalities;
        const { responseMimeType, responseJsonSchema } = parsed.generationConfig;
        if (typeof responseMimeType === "string") call.responseMimeType = responseMimeType;
        if (responseJsonSchema !== undefined) call.responseJsonSchema = responseJsonSchema;
        if (typeof serverTimeout === "string") call.serverTimeout = serverTimeout;
        calls.push(call);
        options.onCall?.(call);
        await wait(options.latencyMs ?? 0);
        if (!hasKey) return sendJson(response, 403, googleError(403, model));
        return await respond(behaviour, model, parsed, kind, response);
      }
      if (request.method === "GET" && describe?.[1]) {
        model = decodeURIComponent(describe[1]);
        const call: FakeCall = { kind: "get", model, at: new Date(), path: url.pathname, hasKey };
        calls.push(call);
        options.onCall?.(call);
        await wait(options.latencyMs ?? 0);
        if (!hasKey) return sendJson(response, 403, googleError(403, model));
        return sendJson(response, 200, {
          name: `models/${model}`,
          version: "001",
          displayName: `${model} (fake)`,
          description:
            "A local stand-in for the Gemini API: answers are made up, images are bannered FAKE GEMINI.",
          inputTokenLimit: 1_048_576,
          outputTokenLimit: 65_536,
          supportedGenerationMethods: ["generateContent", "countTokens"],
          thinking: true,
        });
      }
      await wait(options.latencyMs ?? 0);
      return sendJson(response, 404, {
        error: {
          code: 404,
          message: `${request.method} ${url.pathname} is not a Gemini API path`,
          status: "NOT_FOUND",
        },
      });
    } catch (error) {
      if (error instanceof HttpFailure)
        return sendJson(response, error.status, googleError(error.status, model, error.message));
      return sendJson(response, 500, googleError(500, model));
    }
  };

  const server = createServer((request, response) => {
    void handle(request, response);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    script(...behaviours) {
      for (const behaviour of behaviours) queue.push({ behaviour, left: Math.max(1, behaviour.times ?? 1) });
    },
    reset() {
      queue.length = 0;
      calls.length = 0;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      for (const entry of pending) {
        clearTimeout(entry.timer);
        entry.resolve();
      }
      pending.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
};
