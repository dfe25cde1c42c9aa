import type { Jwks } from "aws-jwt-verify/jwk";
import { z } from "zod";
import type { IdentityConfig } from "./adapters/token-verifier.ts";
import { AI_EDITS } from "./domain/ai-prompts.ts";
import { DEFAULT_VARIANT_SET, variantSetSchema } from "./engine/variant-spec.ts";
import {
  BUCKETS,
  DEFAULT_MAX_UPLOAD_BYTES,
  ENHANCE_QUEUE_SETTINGS,
  ENV,
  GEMINI_SETTINGS,
  LOCAL_IDENTITY,
  QUEUES,
  RAW_RETENTION_DAYS,
  resourceName,
} from "./names.ts";

/** Where the Gemini key comes from: the environment (local), its secret (AWS), or nowhere (no AI step). */
const geminiKeySource = (
  value: string | undefined,
  secretArn: string | undefined,
): { kind: "value"; value: string } | { kind: "secret"; arn: string } | undefined => {
  if (value !== undefined) return { kind: "value", value };
  if (secretArn !== undefined) return { kind: "secret", arn: secretArn };
  return undefined;
};

/** Cognito's pool when one is configured (AWS); else the local stack's key set; else none (every token refused). */
const identityConfig = (
  userPoolId: string | undefined,
  clientId: string | undefined,
  localJwks: Jwks | undefined,
): IdentityConfig | undefined => {
  if (userPoolId !== undefined && clientId !== undefined) return { kind: "cognito", userPoolId, clientId };
  if (localJwks !== undefined) return { kind: "local", jwks: localJwks, ...LOCAL_IDENTITY };
  return undefined;
};

const optionalUrl = z.url().optional();

/** Where the dashboard is served when nothing else is configured: the local stack's default address. */
export const LOCAL_ALLOWED_ORIGINS = ["http://127.0.0.1:3000", "http://localhost:3000"] as const;

/**
 * Browser origins (`scheme://host[:port]`) allowed to call the API and POST photos: the dashboard's, listed,
 * never `*`, which would let any web page a signed-in user visits call the API with their token.
 * Returns the origins in the form browsers send them (lower-case scheme and host), or the problem.
 */
export const parseAllowedOrigins = (text: string): { origins: string[] } | { problem: string } => {
  const items = text
    .split(",")
    .map((item) => item.trim())
    .filter((item) => item.length > 0);
  if (items.length === 0)
    return { problem: "must list at least one origin, e.g. https://dashboard.example.com" };
  const origins: string[] = [];
  for (const item of items) {
    if (item.includes("*")) {
      return {
        problem: `'${item}': list the dashboard's origins instead of a wildcard (any site could call the API)`,
      };
    }
    let url: URL;
    try {
      url = new URL(item);
    } catch {
      return {
        problem: `'${item}' is not an origin (scheme://host[:port], e.g. https://dashboard.example.com)`,
      };
    }
    if (
      !["http:", "https:"].includes(url.protocol) ||
      url.origin.toLowerCase() !== item.replace(/\/$/, "").toLowerCase()
    ) {
      return {
        problem: `'${item}' is not an origin: scheme://host[:port] only, no path, query or user (e.g. ${url.origin})`,
      };
    }
    origins.push(url.origin);
  }
  return { origins: [...new Set(origins)] };
};

const allowedOriginsSchema = z
  .string()
  .default(LOCAL_ALLOWED_ORIGINS.join(","))
  .transform((text, ctx) => {
    const parsed = parseAllowedOrigins(text);
    if ("problem" in parsed) {
      ctx.addIssue({ code: "custom", message: parsed.problem });
      return z.NEVER;
    }
    return parsed.origins;
  });

const configSchema = z
  .object({
    [ENV.stage]: z
      .string()
      .regex(/^[a-z0-9-]+$/, "lowercase letters, digits and dashes")
      .default("local"),
    [ENV.databaseUrl]: z.string().default("mysql://root@127.0.0.1:3306/pixel_lab"),
    [ENV.databaseClusterArn]: z.string().startsWith("arn:", "must be an ARN (arn:…)").optional(),
    [ENV.databaseSecretArn]: z.string().startsWith("arn:", "must be an ARN (arn:…)").optional(),
    [ENV.databaseAppSecretArn]: z.string().startsWith("arn:", "must be an ARN (arn:…)").optional(),
    [ENV.databaseName]: z
      .string()
      .regex(/^[A-Za-z0-9_]{1,64}$/, "1-64 letters, digits and '_'")
      .default("pixel_lab"),
    [ENV.rdsDataEndpoint]: optionalUrl,
    [ENV.awsRegion]: z.string().default("us-east-1"),
    [ENV.s3Endpoint]: optionalUrl,
    [ENV.s3PublicEndpoint]: optionalUrl,
    [ENV.sqsEndpoint]: optionalUrl,
    [ENV.rawBucket]: z.string().optional(),
    [ENV.enhancedBucket]: z.string().optional(),
    [ENV.enhanceQueueUrl]: z.string().optional(),
    [ENV.assetsBaseUrl]: z.url().default("http://127.0.0.1:3000/assets"),
    [ENV.maxUploadBytes]: z.coerce.number().int().positive().default(DEFAULT_MAX_UPLOAD_BYTES),
    [ENV.uploadUrlTtlSeconds]: z.coerce.number().int().min(60).max(3600).default(900),
    [ENV.maxInputPixels]: z.coerce.number().int().positive().default(100_000_000),
    [ENV.maxReceiveCount]: z.coerce.number().int().min(1).default(ENHANCE_QUEUE_SETTINGS.maxReceiveCount),
    [ENV.allowedOrigins]: allowedOriginsSchema,
    [ENV.pushEndpoint]: optionalUrl,
    [ENV.geminiApiKey]: z.string().trim().min(1).optional(),
    [ENV.geminiApiKeySecretArn]: z.string().startsWith("arn:", "must be an ARN (arn:…)").optional(),
    [ENV.geminiBaseUrl]: optionalUrl,
    [ENV.geminiAnalysisModel]: z
      .string()
      .regex(/^[a-z0-9][a-z0-9.-]*$/, "must be a model id, e.g. gemini-3.8-flash")
      .default(GEMINI_SETTINGS.analysisModel),
    [ENV.geminiImageModel]: z
      .string()
      .regex(/^[a-z0-9][a-z0-9.-]*$/, "must be a model id, e.g. gemini-3.1-flash-image")
      .default(GEMINI_SETTINGS.imageModel),
    [ENV.geminiAiVariants]: z.coerce
      .number()
      .int("must be a whole number")
      .min(0, "must be 0 (analysis only) or more")
      .max(AI_EDITS.length, `must be at most ${AI_EDITS.length}, the edits there are prompts for`)
      .default(GEMINI_SETTINGS.aiVariants),
    [ENV.geminiCallTimeoutMs]: z.coerce
      .number()
      .int()
      .min(1000, "must be at least 1000 ms")
      .max(
        GEMINI_SETTINGS.maxBudgetSeconds * 1000,
        `must be at most ${GEMINI_SETTINGS.maxBudgetSeconds * 1000} ms`,
      )
      .default(GEMINI_SETTINGS.callTimeoutMs),
    [ENV.geminiBudgetSeconds]: z.coerce
      .number()
      .int()
      .min(1, "must be at least 1 s")
      .max(
        GEMINI_SETTINGS.maxBudgetSeconds,
        `must be at most ${GEMINI_SETTINGS.maxBudgetSeconds} s: the worker's timeout must still fit a photo beside it`,
      )
      .default(GEMINI_SETTINGS.budgetSeconds),
    [ENV.geminiConcurrency]: z.coerce
      .number()
      .int()
      .min(1, "must be at least 1")
      .max(8, "must be at most 8")
      .default(GEMINI_SETTINGS.concurrency),
    [ENV.userPoolId]: z
      .string()
      .regex(/^[\w-]+_[0-9a-zA-Z]+$/, "must be a Cognito user pool id, e.g. eu-west-1_AbC123")
      .optional(),
    [ENV.userPoolClientId]: z.string().min(1).optional(),
    [ENV.localJwks]: z
      .string()
      .optional()
      .transform((text, ctx) => {
        if (text === undefined) return undefined;
        try {
          const jwks = JSON.parse(text) as { keys?: unknown };
          if (Array.isArray(jwks.keys) && jwks.keys.length > 0) return jwks as Jwks;
        } catch {}
        ctx.addIssue({ code: "custom", message: 'must be a JSON key set, {"keys": [...]}' });
        return z.NEVER;
      }),
    [ENV.variantSet]: z
      .string()
      .optional()
      .transform((text, ctx) => {
        if (!text) return undefined;
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          ctx.addIssue({ code: "custom", message: "must be a JSON array of variants" });
          return z.NEVER;
        }
        const parsed = variantSetSchema.safeParse(json);
        if (!parsed.success) {
          const problems = parsed.error.issues.map(
            (issue) => `${issue.path.join(".") || "(set)"} ${issue.message}`,
          );
          ctx.addIssue({ code: "custom", message: problems.join("; ") });
          return z.NEVER;
        }
        return parsed.data;
      }),
  })
  .refine((env) => (env[ENV.userPoolId] === undefined) === (env[ENV.userPoolClientId] === undefined), {
    path: [ENV.userPoolClientId],
    message: `${ENV.userPoolId} and ${ENV.userPoolClientId} are set together (the pool and its app client)`,
  })
  .refine((env) => env[ENV.databaseClusterArn] === undefined || env[ENV.databaseSecretArn] !== undefined, {
    path: [ENV.databaseSecretArn],
    message: `required when ${ENV.databaseClusterArn} is set (the Data API signs in with the secret)`,
  })
  .transform((env) => {
    const stage = env[ENV.stage];
    const clusterArn = env[ENV.databaseClusterArn];
    const secretArn = env[ENV.databaseSecretArn];
    return {
      stage,
      databaseUrl: env[ENV.databaseUrl],
      /** Set: the Lambdas reach Aurora through the RDS Data API; unset: mysql2 at `databaseUrl`. */
      dataApi:
        clusterArn !== undefined && secretArn !== undefined
          ? {
              resourceArn: clusterArn,
              secretArn,
              database: env[ENV.databaseName],
              endpoint: env[ENV.rdsDataEndpoint],
            }
          : undefined,
      /** The migration function's alone: the secret of the app user it creates and grants (Secrets Manager). */
      appUserSecretArn: env[ENV.databaseAppSecretArn],
      region: env[ENV.awsRegion],
      s3Endpoint: env[ENV.s3Endpoint],
      s3PublicEndpoint: env[ENV.s3PublicEndpoint] ?? env[ENV.s3Endpoint],
      sqsEndpoint: env[ENV.sqsEndpoint],
      rawBucket: env[ENV.rawBucket] ?? resourceName(stage, BUCKETS.raw),
      enhancedBucket: env[ENV.enhancedBucket] ?? resourceName(stage, BUCKETS.enhanced),
      enhanceQueueUrl: env[ENV.enhanceQueueUrl] ?? resourceName(stage, QUEUES.enhance),
      assetsBaseUrl: env[ENV.assetsBaseUrl].replace(/\/+$/, ""),
      maxUploadBytes: env[ENV.maxUploadBytes],
      uploadUrlTtlSeconds: env[ENV.uploadUrlTtlSeconds],
      maxInputPixels: env[ENV.maxInputPixels],
      maxReceiveCount: env[ENV.maxReceiveCount],
      variants: env[ENV.variantSet] ?? DEFAULT_VARIANT_SET,
      /** CORS: the browser origins the HTTP handlers (and the local gateway's preflight) answer. */
      allowedOrigins: env[ENV.allowedOrigins],
      rawRetentionDays: RAW_RETENTION_DAYS,
      identity: identityConfig(env[ENV.userPoolId], env[ENV.userPoolClientId], env[ENV.localJwks]),
      /** The WebSocket API's `@connections` endpoint; unset: no push, open pages follow the changes feed. */
      pushEndpoint: env[ENV.pushEndpoint],
      gemini: {
        /** The key itself (locally), or the secret that holds it (AWS); neither: the AI step is skipped. */
        key: geminiKeySource(env[ENV.geminiApiKey], env[ENV.geminiApiKeySecretArn]),
        baseUrl: env[ENV.geminiBaseUrl],
        analysisModel: env[ENV.geminiAnalysisModel],
        imageModel: env[ENV.geminiImageModel],
        aiVariants: env[ENV.geminiAiVariants],
        callTimeoutMs: env[ENV.geminiCallTimeoutMs],
        budgetSeconds: env[ENV.geminiBudgetSeconds],
        concurrency: env[ENV.geminiConcurrency],
      },
    };
  });

export type Config = z.output<typeof configSchema>;

/** Every problem with the environment's configuration, each naming its variable (none: it is valid). */
export const configProblems = (env: NodeJS.ProcessEnv = process.env): string[] => {
  const result = configSchema.safeParse(env);
  return result.success
    ? []
    : result.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`);
};

/** Reads the environment once; a bad value stops the process with the variable's name and the problem. */
export const loadConfig = (env: NodeJS.ProcessEnv = process.env): Config => {
  const result = configSchema.safeParse(env);
  if (!result.success) {
    throw new Error(`Invalid configuration: ${configProblems(env).join("; ")}`);
  }
  return result.data;
};
