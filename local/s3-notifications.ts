import { HeadObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { SendMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import type { MessageSpyReader, S3SpyEvent, SpyMessage } from "fauxqs";
import type { Log } from "../lambdas/domain/ports.ts";
import { objectCreatedEvent } from "../lambdas/domain/s3-events.ts";
import { RAW_PREFIX } from "../lambdas/names.ts";

export interface NotificationBridgeOptions {
  spy: MessageSpyReader;
  s3: S3Client;
  sqs: SQSClient;
  bucket: string;
  queueUrl: string;
  region: string;
  log: Log;
}

const isRawUpload =
  (bucket: string) =>
  (message: SpyMessage): message is S3SpyEvent =>
    message.service === "s3" &&
    message.status === "uploaded" &&
    message.bucket === bucket &&
    message.key.startsWith(RAW_PREFIX);

/**
 * fauxqs accepts a bucket notification configuration but never delivers it, so the local stack does
 * S3's part: each object stored under `raw/` in the raw bucket becomes an ObjectCreated record on the
 * enhance queue, as the notification the CDK stack configures would. Uploads are observed through
 * fauxqs's message spy; one presigned POST is reported twice there, so (key, ETag) pairs already sent
 * are skipped. An upload that lands while this process is down is not bridged: that is the
 * reconciler's job, as for a notification S3 itself loses.
 */
export const startNotificationBridge = (options: NotificationBridgeOptions) => {
  const { spy, s3, sqs, bucket, queueUrl, region, log } = options;
  const seen = new WeakSet<SpyMessage>();
  const sent = new Set<string>();
  const inFlight = new Set<Promise<void>>();
  let running = true;

  const forward = async (key: string): Promise<void> => {
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    const etag = (head.ETag ?? "").replace(/"/g, "");
    const identity = `${key}\n${etag}`;
    if (sent.has(identity)) return;
    sent.add(identity);
    const event = objectCreatedEvent({ bucket, key, bytes: head.ContentLength ?? 0, etag, region });
    await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: JSON.stringify(event) }));
  };

  const loop = async () => {
    const matches = isRawUpload(bucket);
    while (running) {
      let message: SpyMessage;
      try {
        message = await spy.waitForMessage(
          (candidate) => matches(candidate) && !seen.has(candidate),
          undefined,
          500,
        );
      } catch {
        continue; // the wait timed out: look at `running` again
      }
      seen.add(message);
      const key = (message as S3SpyEvent).key;
      const work = forward(key)
        .catch((error: unknown) =>
          log.error("could not bridge an S3 upload to the queue", { key, error: String(error) }),
        )
        .finally(() => inFlight.delete(work));
      inFlight.add(work);
    }
  };
  const looping = loop();

  return {
    async stop() {
      running = false;
      await looping;
      await Promise.all(inFlight);
    },
  };
};
