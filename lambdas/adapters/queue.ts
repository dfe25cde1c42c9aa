import { GetQueueAttributesCommand, SendMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import type { EnhanceQueue } from "../domain/ports.ts";

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

export const createEnhanceQueue = (sqs: SQSClient, queueUrl: string): EnhanceQueue => ({
  async ping() {
    await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ["QueueArn"] }));
  },
  async send(message) {
    await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: JSON.stringify(message) }));
  },
});
