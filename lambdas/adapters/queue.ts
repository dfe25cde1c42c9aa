import { GetQueueAttributesCommand, SQSClient } from "@aws-sdk/client-sqs";
import type { QueueProbe } from "../domain/ports.ts";

export interface SqsOptions {
  region: string;
  /** Set for the local emulator, whose queue URLs name a host that does not resolve. */
  endpoint?: string | undefined;
}

export const createSqsClient = ({ region, endpoint }: SqsOptions): SQSClient =>
  new SQSClient({
    region,
    ...(endpoint ? { endpoint, credentials: { accessKeyId: "local", secretAccessKey: "local" } } : {}),
  });

export const createQueueProbe = (sqs: SQSClient, queueUrl: string): QueueProbe => ({
  async ping() {
    await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ["QueueArn"] }));
  },
});
