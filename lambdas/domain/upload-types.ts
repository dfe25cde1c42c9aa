import type { ImageFormat } from "../engine/vocabulary.ts";

/** The photo formats a seller may upload, by the Content-Type they declare, and the key's extension. */
export const UPLOAD_CONTENT_TYPES = {
  "image/jpeg": "jpg",
  "image/png": "png",
  "image/webp": "webp",
  "image/avif": "avif",
  "image/tiff": "tiff",
  "image/gif": "gif",
} as const satisfies Record<`image/${ImageFormat}`, string>;

export type UploadContentType = keyof typeof UPLOAD_CONTENT_TYPES;
export type UploadExtension = (typeof UPLOAD_CONTENT_TYPES)[UploadContentType];

export const UPLOAD_EXTENSIONS = Object.values(UPLOAD_CONTENT_TYPES) as UploadExtension[];

export const extensionFor = (contentType: UploadContentType): UploadExtension =>
  UPLOAD_CONTENT_TYPES[contentType];
