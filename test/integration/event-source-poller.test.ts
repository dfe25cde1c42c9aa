import { GetQueueAttributesCommand, SendMessageCommand } from "@aws-sdk/client-sqs";
import type { SQSEvent } from "aws-lambda";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { logger } from "../../lambdas/adapters/logger.ts";
import { type SqsHandler, startEventSourcePoller } from "../../local/event-source-poller.ts";
import { startTestEmulator, type TestEmulator } from "../support/emulator.ts";
import { eventually } from "../support/upload.ts";

/** The local stand-in for Lambda's SQS event source mapping, against the real emulator queue. */
let emulator: TestEmulator;

beforeEach(async () => {
  emulator = await startTestEmulator({ visibilityTimeoutSeconds: 2, maxReceiveCount: 5 });
});

afterEach(async () => {
  await emulator.stop();
});

const pollWith = (handler: SqsHandler, timeoutSeconds: number) =>
  startEventSourcePoller({
    sqs: emulator.sqs,
    queueUrl: emulator.queue.url,
    queueArn: emulator.queue.arn,
    region: "us-east-1",
    handler,
    functionName: "enhance",
    batchSize: 5,
    concurrency: 1,
    timeoutSeconds,
    log: logger,
  });

const queueCounts = async () => {
  const { Attributes = {} } = await emulator.sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: emulator.queue.url,
      AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    }),
  );
  return (
    Number(Attributes.ApproximateNumberOfMessages) + Number(Attributes.ApproximateNumberOfMessagesNotVisible)
  );
};

describe("local event source poller", () => {
  it("abandons an invocation that runs past the function timeout; its batch returns to the queue", async () => {
    const invocations: SQSEvent[] = [];
    const handler: SqsHandler = async (event) => {
      invocations.push(event);
      // The first invocation hangs, as a worker stuck on one photo would; the redelivery succeeds.
      if (invocations.length === 1) return new Promise(() => undefined);
      return { batchItemFailures: [] };
    };
    const poller = pollWith(handler, 1);
    try {
      await emulator.sqs.send(new SendMessageCommand({ QueueUrl: emulator.queue.url, MessageBody: "{}" }));
      await eventually(async () => (invocations.length >= 2 ? true : undefined), {
        what: "the batch delivered again after the timeout",
        timeoutMs: 15_000,
      });
      const [first, second] = invocations;
      expect(first?.Records[0]?.messageId).toBe(second?.Records[0]?.messageId);
      expect(first?.Records[0]?.attributes.ApproximateReceiveCount).toBe("1");
      expect(second?.Records[0]?.attributes.ApproximateReceiveCount).toBe("2");
      // The second invocation succeeded: the message is deleted, not delivered a third time.
      await eventually(async () => ((await queueCounts()) === 0 ? true : undefined), { what: "deletion" });
      expect(invocations).toHaveLength(2);
    } finally {
      await poller.stop();
    }
  });

  it("hands the handler the message's attributes, as Lambda's SQS event does", async () => {
    const seen: SQSEvent[] = [];
    const poller = pollWith(async (event) => {
      seen.push(event);
      return { batchItemFailures: [] };
    }, 5);
    try {
      await emulator.sqs.send(
        new SendMessageCommand({
          QueueUrl: emulator.queue.url,
          MessageBody: "{}",
          MessageAttributes: { deferrals: { DataType: "Number", StringValue: "3" } },
        }),
      );
      await eventually(async () => (seen.length > 0 ? true : undefined), { what: "a delivery" });
      expect(seen[0]?.Records[0]?.messageAttributes.deferrals).toMatchObject({
        dataType: "Number",
        stringValue: "3",
      });
    } finally {
      await poller.stop();
    }
  });
});
