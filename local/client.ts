/**
 * A client of a running Pixel Lab (the local stack or a deployment), over its public protocols only: the
 * JSON API and presigned POSTs. The demo and the burst benchmark drive the pipeline with it.
 */

export interface UploadTicket {
  url: string;
  fields: Record<string, string>;
}

/** Where the API is, and the bearer token to call it with. */
export interface ApiTarget {
  url: string;
  token?: string | undefined;
}

/** Calls the JSON API; a non-2xx answer throws with the route, the status and the body. */
export const callApi = async <T>(
  api: ApiTarget,
  method: string,
  path: string,
  body?: unknown,
): Promise<T> => {
  const response = await fetch(`${api.url}${path}`, {
    method,
    headers: {
      ...(api.token ? { authorization: `Bearer ${api.token}` } : {}),
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const payload = (await response.json()) as T;
  if (!response.ok)
    throw new Error(`${method} ${path} answered ${response.status}: ${JSON.stringify(payload)}`);
  return payload;
};

/** Sends a photo the way a browser sends a presigned POST: the policy's fields first, the file last. */
export const postPresigned = (
  ticket: UploadTicket,
  body: Uint8Array,
  filename = "photo",
): Promise<Response> => {
  const form = new FormData();
  for (const [name, value] of Object.entries(ticket.fields)) form.append(name, value);
  form.append(
    "file",
    new Blob([body], { type: ticket.fields["Content-Type"] ?? "application/octet-stream" }),
    filename,
  );
  return fetch(ticket.url, { method: "POST", body: form });
};

/** Uploads a photo with its presigned POST; a refusal throws with the status and S3's answer. */
export const uploadPhoto = async (
  ticket: UploadTicket,
  body: Uint8Array,
  filename = "photo",
): Promise<void> => {
  const response = await postPresigned(ticket, body, filename);
  if (!response.ok)
    throw new Error(`uploading ${filename} answered ${response.status}: ${await response.text()}`);
};
