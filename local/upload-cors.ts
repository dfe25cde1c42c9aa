import { createServer, request as httpRequest, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { UPLOAD_CORS } from "../lambdas/names.ts";

/**
 * The raw bucket's CORS rule, which the S3 emulator does not play: a pass-through in front of it that answers
 * a browser's preflight and marks the answers for the allowed origins only, as S3 does in AWS. Presigned
 * POSTs name this address (`S3_PUBLIC_ENDPOINT`), so the dashboard can upload straight to storage; the
 * handlers reach the emulator directly.
 */
export const startUploadCorsFront = async (options: {
  target: string;
  allowedOrigins: readonly string[];
  host: string;
}): Promise<{ url: string; stop(): Promise<void> }> => {
  const corsFor = (origin: string | undefined): Record<string, string> =>
    origin !== undefined && options.allowedOrigins.includes(origin.toLowerCase())
      ? {
          "access-control-allow-origin": origin,
          "access-control-expose-headers": UPLOAD_CORS.exposedHeaders.join(", "),
          vary: "Origin",
        }
      : { vary: "Origin" };
  const server: Server = createServer((incoming, outgoing) => {
    const cors = corsFor(incoming.headers.origin);
    if (incoming.method === "OPTIONS") {
      const method = incoming.headers["access-control-request-method"] ?? "";
      const allowed =
        "access-control-allow-origin" in cors &&
        (UPLOAD_CORS.allowedMethods as readonly string[]).includes(method);
      // S3 refuses a preflight no rule allows with a 403, and the browser then sends nothing.
      outgoing.writeHead(
        allowed ? 200 : 403,
        allowed
          ? {
              ...cors,
              "access-control-allow-methods": UPLOAD_CORS.allowedMethods.join(", "),
              "access-control-allow-headers": incoming.headers["access-control-request-headers"] ?? "",
              "access-control-max-age": String(UPLOAD_CORS.maxAgeSeconds),
            }
          : { vary: "Origin" },
      );
      outgoing.end();
      return;
    }
    const target = new URL(incoming.url ?? "/", options.target);
    const forwarded = httpRequest(
      target,
      { method: incoming.method, headers: { ...incoming.headers, host: target.host } },
      (answer) => {
        outgoing.writeHead(answer.statusCode ?? 502, { ...answer.headers, ...cors });
        answer.pipe(outgoing);
      },
    );
    forwarded.on("error", () => outgoing.destroy());
    incoming.pipe(forwarded);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, options.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${options.host}:${port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
};
