import { parseRawKey } from "./object-keys.ts";
import type { LatestOriginal, ObjectStore } from "./ports.ts";
import { UPLOAD_CONTENT_TYPES, type UploadContentType } from "./upload-types.ts";
import type { OriginalView } from "./views.ts";

/**
 * How long a link to the seller's original photo stays valid, at least, and the step its signing time is
 * rounded down to: within one step every `GET /products/{id}` answers the same URL, so a reviewer's browser
 * shows the photo from its cache instead of fetching megabytes again for each visit or prefetch.
 */
export const ORIGINAL_URL = { ttlSeconds: 900, stepSeconds: 300 } as const;

const CONTENT_TYPE_OF = Object.fromEntries(
  Object.entries(UPLOAD_CONTENT_TYPES).map(([contentType, extension]) => [extension, contentType]),
) as Record<string, UploadContentType>;

/**
 * A short-lived link to the photo the current analysis and variants came from (the raw bucket is private),
 * or null when the product has none, or when the raw bucket no longer keeps it (originals expire).
 */
export const originalView = async (
  objectStore: ObjectStore,
  original: LatestOriginal | undefined,
  now: Date,
): Promise<OriginalView | null> => {
  if (!original) return null;
  const parsed = parseRawKey(original.key);
  if (!parsed) return null;
  const head = await objectStore.head(original.bucket, original.key);
  if (!head) return null;
  const step = ORIGINAL_URL.stepSeconds * 1000;
  const signedAt = new Date(Math.floor(now.getTime() / step) * step);
  const expiresInSeconds = ORIGINAL_URL.ttlSeconds + ORIGINAL_URL.stepSeconds;
  const url = await objectStore.presignGet({
    bucket: original.bucket,
    key: original.key,
    expiresInSeconds,
    signedAt,
  });
  return {
    url,
    // The type the upload declared, which the presigned POST pinned and S3 answers with.
    contentType: CONTENT_TYPE_OF[parsed.extension] ?? "application/octet-stream",
    width: original.width,
    height: original.height,
    bytes: head.bytes,
    expiresAt: new Date(signedAt.getTime() + expiresInSeconds * 1000).toISOString(),
  };
};
