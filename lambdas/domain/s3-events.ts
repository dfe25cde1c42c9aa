import { randomUUID } from "node:crypto";
import type { S3Event } from "aws-lambda";

/**
 * The S3 `ObjectCreated` record AWS puts on the queue, with the key URL-encoded as S3 encodes it. The
 * local stack's notification bridge and the reconciler send it, so the worker has one message to read.
 */
export const objectCreatedEvent = (input: {
  bucket: string;
  key: string;
  bytes: number;
  etag: string;
  region: string;
  eventName?: string;
  /** When the object landed; the notification's own time when not given. */
  eventTime?: Date;
}): S3Event => ({
  Records: [
    {
      eventVersion: "2.1",
      eventSource: "aws:s3",
      awsRegion: input.region,
      eventTime: (input.eventTime ?? new Date()).toISOString(),
      eventName: input.eventName ?? "ObjectCreated:Post",
      userIdentity: { principalId: "local" },
      requestParameters: { sourceIPAddress: "127.0.0.1" },
      responseElements: { "x-amz-request-id": randomUUID(), "x-amz-id-2": randomUUID() },
      s3: {
        s3SchemaVersion: "1.0",
        configurationId: "raw-uploads",
        bucket: {
          name: input.bucket,
          ownerIdentity: { principalId: "local" },
          arn: `arn:aws:s3:::${input.bucket}`,
        },
        object: {
          key: encodeURIComponent(input.key).replace(/%2F/g, "/").replace(/%20/g, "+"),
          size: input.bytes,
          eTag: input.etag,
          sequencer: Date.now().toString(16).toUpperCase().padStart(16, "0"),
        },
      },
    },
  ],
});
