import {
  DeleteMessageBatchCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import type { Log } from "../lambdas/domain/ports.ts";
import { lambdaContext } from "./lambda-context.ts";

export type SqsHandler = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse | undefined>;

export interface PollerOptions {
  sqs: SQSClient;
  queueUrl: string;
  queueArn: string;
  region: string;
  handler: SqsHandler;
  functionName: string;
  batchSize: number;
  /** How many batches run at once, like an event source mapping's maximum concurrency. */
  concurrency: number;
  timeoutSeconds: number;
  log: Log;
  /** Long-poll wait; short so that stopping is quick. */
  waitTimeSeconds?: number;
}

/** What Lambda reports when a function runs past its timeout. */
export class InvocationTimeout extends Error {
  constructor(seconds: number) {
    super(`Task timed out after ${seconds.toFixed(2)} seconds`);
    this.name = "InvocationTimeout";
  }
}

export const toSqsRecord = (message: Message, queueArn: string, region: string): SQSRecord => ({
  messageId: message.MessageId ?? "",
  receiptHandle: message.ReceiptHandle ?? "",
  body: message.Body ?? "",
  attributes: {
    ApproximateReceiveCount: message.Attributes?.ApproximateReceiveCount ?? "1",
    SentTimestamp: message.Attributes?.SentTimestamp ?? String(Date.now()),
    SenderId: message.Attributes?.SenderId ?? "local",
    ApproximateFirstReceiveTimestamp:
      message.Attributes?.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
  },
  messageAttributes: Object.fromEntries(
    Object.entries(message.MessageAttributes ?? {}).map(([name, value]) => [
      name,
      {
        dataType: value.DataType ?? "String",
        ...(value.StringValue === undefined ? {} : { stringValue: value.StringValue }),
        stringListValues: [],
        binaryListValues: [],
      },
    ]),
  ),
  md5OfBody: message.MD5OfBody ?? "",
  eventSource: "aws:sqs",
  eventSourceARN: queueArn,
  awsRegion: region,
});

/**
 * Does what Lambda's SQS event source mapping does: receive up to `batchSize` messages, invoke the
 * handler once per batch, delete the messages it did not list in `batchItemFailures`, and leave the
 * failed ones to reappear after the visibility timeout. The queue's redrive policy (maxReceiveCount)
 * moves a message that keeps failing to the DLQ, exactly as in AWS. A handler that throws fails the
 * whole batch, as a Lambda error would; so does one that runs past the function timeout: Lambda would
 * stop it, and here it is abandoned (its promise is left to settle on its own; whatever it finishes is
 * idempotent) and its batch returns to the queue after the visibility timeout.
 */
export const startEventSourcePoller = (options: PollerOptions) => {
  const { sqs, queueUrl, queueArn, region, handler, log } = options;
  let running = true;

  const runBatch = async (messages: Message[]): Promise<void> => {
    const event: SQSEvent = { Records: messages.map((message) => toSqsRecord(message, queueArn, region)) };
    let failed: Set<string>;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new InvocationTimeout(options.timeoutSeconds)),
        options.timeoutSeconds * 1000,
      );
    });
    try {
      const invocation = handler(event, lambdaContext(options.functionName, options.timeoutSeconds));
      // An abandoned invocation's own failure has nowhere to go once the race is lost.
      invocation.catch(() => undefined);
      const response = await Promise.race([invocation, timedOut]);
      failed = new Set((response?.batchItemFailures ?? []).map((failure) => failure.itemIdentifier));
    } catch (error) {
      log.warn("worker invocation failed; the whole batch returns to the queue", { error: String(error) });
      failed = new Set(event.Records.map((record) => record.messageId));
    } finally {
      clearTimeout(timer);
    }
    const done = messages.filter((message) => !failed.has(message.MessageId ?? ""));
    if (done.length > 0) {
      await sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: done.map((message, index) => ({
            Id: String(index),
            ReceiptHandle: message.ReceiptHandle ?? "",
          })),
        }),
      );
    }
  };

  const pollLoop = async (): Promise<void> => {
    while (running) {
      let messages: Message[] = [];
      try {
        const received = await sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: queueUrl,
            MaxNumberOfMessages: options.batchSize,
            WaitTimeSeconds: options.waitTimeSeconds ?? 1,
            MessageSystemAttributeNames: ["All"],
            MessageAttributeNames: ["All"],
          }),
        );
        messages = received.Messages ?? [];
      } catch (error) {
        if (!running) break;
        log.warn("could not receive from the queue; retrying", { error: String(error) });
        await new Promise((resolve) => setTimeout(resolve, 1000));
        continue;
      }
      if (messages.length > 0) {
        await runBatch(messages).catch((error: unknown) =>
          log.error("could not acknowledge a batch; its messages will be delivered again", {
            error: String(error),
          }),
        );
      }
    }
  };

  const loops = Array.from({ length: options.concurrency }, () => pollLoop());

  return {
    /**
     * Stops receiving. A long poll under way is allowed to end (aborting it client-side would leave the
     * emulator delivering into the void, spending one of the message's receives) and whatever it
     * brings is processed; batches already handed to the worker finish and are acknowledged.
     */
    async stop(): Promise<void> {
      running = false;
      await Promise.all(loops);
    },
  };
};
