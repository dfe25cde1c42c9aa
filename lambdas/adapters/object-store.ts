import {
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  NoSuchKey,
  NotFound,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from "@aws-sdk/client-s3";
import { createPresignedPost } from "@aws-sdk/s3-presigned-post";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import type { ObjectStore } from "../domain/ports.ts";

export interface S3Options {
  region: string;
  /** Set for the local emulator; unset in AWS. */
  endpoint?: string | undefined;
}

export const createS3Client = ({ region, endpoint }: S3Options): S3Client =>
  new S3Client({
    region,
    ...(endpoint
      ? {
          endpoint,
          forcePathStyle: true,
          credentials: { accessKeyId: "local", secretAccessKey: "local" },
        }
      : {}),
  });

/** HEAD answers a missing key with NotFound, GET with NoSuchKey; both are a 404 (given s3:ListBucket). */
const isMissing = (error: unknown): boolean =>
  error instanceof NotFound ||
  error instanceof NoSuchKey ||
  (error instanceof S3ServiceException && error.$metadata.httpStatusCode === 404);

/**
 * @param s3 the client the pipeline reads and writes with.
 * @param publicS3 the client presigned POSTs are made with: its endpoint is the one a seller's
 *   browser can reach (the same as `s3` in AWS; the local stack's S3 front door locally).
 */
export const createObjectStore = (s3: S3Client, publicS3: S3Client = s3): ObjectStore => ({
  async presignPost({ bucket, key, contentType, maxBytes, expiresInSeconds }) {
    const { url, fields } = await createPresignedPost(publicS3, {
      Bucket: bucket,
      Key: key,
      Conditions: [
        ["content-length-range", 1, maxBytes],
        ["eq", "$Content-Type", contentType],
      ],
      Fields: { "Content-Type": contentType, success_action_status: "201" },
      Expires: expiresInSeconds,
    });
    return { url, fields };
  },

  presignGet: ({ bucket, key, expiresInSeconds, signedAt }) =>
    presignGet(publicS3, bucket, key, expiresInSeconds, signedAt),

  async head(bucket, key) {
    try {
      const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      return {
        bytes: head.ContentLength ?? 0,
        etag: (head.ETag ?? "").replace(/"/g, ""),
        contentType: head.ContentType,
        lastModified: head.LastModified,
      };
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  },

  async get(bucket, key) {
    try {
      const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      if (!object.Body) throw new Error(`s3://${bucket}/${key} has no body`);
      return await object.Body.transformToByteArray();
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  },

  async put(bucket, key, body, contentType) {
    await s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: key,
        Body: body,
        ContentType: contentType,
        // Variant keys are never overwritten with different bytes: a new enhancement is a new sequence.
        CacheControl: "public, max-age=31536000, immutable",
      }),
    );
  },

  async ping(bucket) {
    await s3.send(new HeadBucketCommand({ Bucket: bucket }));
  },
});

/**
 * A presigned GET on the client's own endpoint (virtual-hosted in AWS, path-style on the emulator), signed as
 * of `signedAt`, so the same photo asked again within a step gets the same URL and the browser's cache holds.
 */
const presignGet = (
  s3: S3Client,
  bucket: string,
  key: string,
  expiresInSeconds: number,
  signedAt: Date,
): Promise<string> =>
  getSignedUrl(s3, new GetObjectCommand({ Bucket: bucket, Key: key }), {
    expiresIn: expiresInSeconds,
    signingDate: signedAt,
  });
