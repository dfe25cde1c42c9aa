import { ENHANCED_PREFIX, RAW_PREFIX } from "../names.ts";
import { UPLOAD_EXTENSIONS, type UploadExtension } from "./upload-types.ts";

export interface RawKey {
  productId: string;
  uploadId: string;
  extension: UploadExtension;
}

const UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";
const RAW_KEY = new RegExp(`^${RAW_PREFIX}(${UUID})/(${UUID})\\.([a-z]+)$`);

export const rawKey = ({ productId, uploadId, extension }: RawKey): string =>
  `${RAW_PREFIX}${productId}/${uploadId}.${extension}`;

/** Parses `raw/{productId}/{uploadId}.{ext}`; anything else is not an upload this pipeline issued. */
export const parseRawKey = (key: string): RawKey | undefined => {
  const match = RAW_KEY.exec(key);
  if (!match) return undefined;
  const [, productId, uploadId, extension] = match as unknown as [string, string, string, string];
  if (!UPLOAD_EXTENSIONS.includes(extension as UploadExtension)) return undefined;
  return { productId, uploadId, extension: extension as UploadExtension };
};

/**
 * S3 event notifications URL-encode object keys the way HTML forms do (spaces as `+`).
 * https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html
 */
export const decodeEventKey = (encodedKey: string): string =>
  decodeURIComponent(encodedKey.replace(/\+/g, " "));

export const enhancedKey = (
  productId: string,
  sequence: number,
  variant: string,
  extension: string,
): string => `${ENHANCED_PREFIX}${productId}/${sequence}/${variant}.${extension}`;
