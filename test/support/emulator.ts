import { randomBytes } from "node:crypto";
import type { S3Client } from "@aws-sdk/client-s3";
import type { SQSClient } from "@aws-sdk/client-sqs";
import { type FauxqsServer, startFauxqs } from "fauxqs";
import { createS3Client } from "../../lambdas/adapters/object-store.ts";
import { createSqsClient } from "../../lambdas/adapters/queue.ts";

export interface TestEmulator {
  server: FauxqsServer;
  endpoint: string;
  s3: S3Client;
  sqs: SQSClient;
  rawBucket: string;
  enhancedBucket: string;
  queue: { url: string; arn: string; name: string };
  deadLetterQueue: { url: string; arn: string; name: string };
  stop(): Promise<void>;
}

/** fauxqs in this process with buckets and an enhance queue (+ DLQ) of unique names. */
export const startTestEmulator = async (
  options: { visibilityTimeoutSeconds?: number; maxReceiveCount?: number } = {},
): Promise<TestEmulator> => {
  const server = await startFauxqs({ port: 0, logger: false, messageSpies: { bufferSize: 1000 } });
  const suffix = randomBytes(4).toString("hex");
  const endpoint = `http://127.0.0.1:${server.port}`;
  const [dlq] = server.setup({ queues: [{ name: `enhance-dlq-${suffix}` }] }).queues;
  const [queue] = server.setup({
    buckets: [`raw-${suffix}`, `enhanced-${suffix}`],
    queues: [
      {
        name: `enhance-${suffix}`,
        attributes: {
          VisibilityTimeout: String(options.visibilityTimeoutSeconds ?? 30),
          RedrivePolicy: JSON.stringify({
            deadLetterTargetArn: dlq?.arn,
            maxReceiveCount: options.maxReceiveCount ?? 3,
          }),
        },
      },
    ],
  }).queues;
  if (!queue || !dlq) throw new Error("fauxqs did not create the queues");
  const s3 = createS3Client({ region: "us-east-1", endpoint });
  const sqs = createSqsClient({ region: "us-east-1", endpoint });
  return {
    server,
    endpoint,
    s3,
    sqs,
    rawBucket: `raw-${suffix}`,
    enhancedBucket: `enhanced-${suffix}`,
    queue: { url: queue.url, arn: queue.arn, name: queue.name },
    deadLetterQueue: { url: dlq.url, arn: dlq.arn, name: dlq.name },
    async stop() {
      s3.destroy();
      sqs.destroy();
      await server.stop();
    },
  };
};
