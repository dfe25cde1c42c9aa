import { z } from "zod";
import { BUCKETS, ENHANCE_QUEUE_SETTINGS, ENV, QUEUES, resourceName } from "./names.ts";

const MB = 1024 * 1024;

const optionalUrl = z.url().optional();

const configSchema = z
  .object({
    [ENV.stage]: z
      .string()
      .regex(/^[a-z0-9-]+$/, "lowercase letters, digits and dashes")
      .default("local"),
    [ENV.databaseUrl]: z.string().default("mysql://root@127.0.0.1:3306/pixel_lab"),
    [ENV.awsRegion]: z.string().default("us-east-1"),
    [ENV.s3Endpoint]: optionalUrl,
    [ENV.s3PublicEndpoint]: optionalUrl,
    [ENV.sqsEndpoint]: optionalUrl,
    [ENV.rawBucket]: z.string().optional(),
    [ENV.enhancedBucket]: z.string().optional(),
    [ENV.enhanceQueueUrl]: z.string().optional(),
    [ENV.assetsBaseUrl]: z.url().default("http://127.0.0.1:3000/assets"),
    [ENV.maxUploadBytes]: z.coerce
      .number()
      .int()
      .positive()
      .default(25 * MB),
    [ENV.uploadUrlTtlSeconds]: z.coerce.number().int().min(60).max(3600).default(900),
    [ENV.maxInputPixels]: z.coerce.number().int().positive().default(100_000_000),
    [ENV.maxReceiveCount]: z.coerce.number().int().min(1).default(ENHANCE_QUEUE_SETTINGS.maxReceiveCount),
  })
  .transform((env) => {
    const stage = env[ENV.stage];
    return {
      stage,
      databaseUrl: env[ENV.databaseUrl],
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
    };
  });

export type Config = z.output<typeof configSchema>;

/** Reads the environment once; a bad value stops the process with the variable's name and the problem. */
export const loadConfig = (env: NodeJS.ProcessEnv = process.env): Config => {
  const result = configSchema.safeParse(env);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`);
    throw new Error(`Invalid configuration: ${problems.join("; ")}`);
  }
  return result.data;
};
