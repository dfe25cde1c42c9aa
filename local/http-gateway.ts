import { randomUUID } from "node:crypto";
import { readFile, stat } from "node:fs/promises";
import type { IncomingMessage, RequestListener, ServerResponse } from "node:http";
import { extname, join, normalize, sep } from "node:path";
import { GetObjectCommand, NoSuchKey, type S3Client } from "@aws-sdk/client-s3";
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from "aws-lambda";
import { z } from "zod";
import type { Log } from "../lambdas/domain/ports.ts";
import {
  CORS_SETTINGS,
  ENHANCED_PREFIX,
  ENV,
  LOCAL_IDENTITY,
  type RouteDefinition,
} from "../lambdas/names.ts";
import {
  DASHBOARD_CONFIG_PATH,
  type DashboardConfig,
  LOCAL_TOKEN_PATH,
  type LocalTokenResponse,
} from "../web/src/dashboard-config.ts";
import { LOCAL_USER_NAME, mintAccessToken, type SigningKey } from "./identity.ts";
import { lambdaContext } from "./lambda-context.ts";

export type HttpLambda = (
  event: APIGatewayProxyEventV2,
  context: Context,
) => Promise<APIGatewayProxyStructuredResultV2>;

export interface GatewayRoute {
  definition: RouteDefinition;
  handler: HttpLambda;
}

/** API Gateway's payload limit for HTTP APIs. */
const MAX_BODY_BYTES = 10 * 1024 * 1024;
/**
 * After answering 413, the rest of an oversized body is read and dropped so the client can finish sending
 * and read the answer (closing mid-upload resets the connection, and the client sees no answer at all);
 * past this much more, or this long, the connection is cut.
 */
const DISCARD_LIMIT_BYTES = 256 * 1024 * 1024;
const DISCARD_LIMIT_MS = 30_000;

export const ASSETS_PATH = "/assets/";
/** The dashboard's bundle (hashed names): not `/assets/`, which is the enhanced images' path. */
export const DASHBOARD_BUNDLE_PATH = "/app/";
/** How long a development sign-in's token lasts, as `npm run token`'s default. */
const LOCAL_TOKEN_TTL_SECONDS = 3600;

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".webp": "image/webp",
  ".ico": "image/x-icon",
  ".woff2": "font/woff2",
  ".txt": "text/plain; charset=utf-8",
};

/**
 * The dashboard's pages are the only HTML the gateway serves; they load scripts, styles and data from this
 * origin alone (enhanced images included: `/assets/`), and send photos to the storage's origin alone (the
 * presigned POSTs' `url`: the S3 emulator's, `S3_PUBLIC_ENDPOINT`), which `connect-src` names when known;
 * `img-src` names it too, for the seller's original photo (a presigned GET of the same storage).
 */
const dashboardHeaders = (uploadOrigin: string | undefined) => ({
  "content-security-policy": `default-src 'self'; img-src 'self' data:${uploadOrigin ? ` ${uploadOrigin}` : ""}; style-src 'self'; script-src 'self'; connect-src 'self'${uploadOrigin ? ` ${uploadOrigin}` : ""}; frame-ancestors 'none'; base-uri 'self'; form-action 'self'; object-src 'none'`,
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
});

/** The origin presigned POSTs go to, as the handlers' configuration reads it (the stack sets it first). */
const uploadOriginOf = (env: NodeJS.ProcessEnv): string | undefined => {
  const endpoint = env[ENV.s3PublicEndpoint] ?? env[ENV.s3Endpoint];
  try {
    return endpoint ? new URL(endpoint).origin : undefined;
  } catch {
    return undefined;
  }
};

const localTokenRequestSchema = z.strictObject({
  name: z
    .string()
    .regex(LOCAL_USER_NAME, "lowercase letters, digits, '.', '_' and '-', starting with a letter or digit"),
  roles: z
    .array(z.enum(["seller", "reviewer"]))
    .min(1, "choose seller, reviewer or both")
    .refine((roles) => new Set(roles).size === roles.length, "each role once"),
});

interface CompiledRoute extends GatewayRoute {
  pattern: RegExp;
  parameterNames: string[];
}

const compile = (route: GatewayRoute): CompiledRoute => {
  const parameterNames: string[] = [];
  const source = route.definition.path.replace(/\{(\w+)\}/g, (_, name: string) => {
    parameterNames.push(name);
    return "([^/]+)";
  });
  return { ...route, pattern: new RegExp(`^${source}$`), parameterNames };
};

/** The body, or `undefined` as soon as it passes the limit (the rest is left to `discardRest`). */
const readBody = (request: IncomingMessage): Promise<Buffer | undefined> =>
  new Promise((resolve, reject) => {
    const declared = Number(request.headers["content-length"] ?? 0);
    if (declared > MAX_BODY_BYTES) return resolve(undefined);
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        request.off("data", onData);
        request.off("end", onEnd);
        request.pause();
        resolve(undefined);
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => resolve(Buffer.concat(chunks));
    request.on("data", onData);
    request.on("end", onEnd);
    request.once("error", reject);
  });

/**
 * Answers 413 first, then reads and drops what the client still sends, and only then ends the response (and,
 * with `connection: close`, the connection): ending it at once would close the socket under a client still
 * uploading, which sees a reset instead of the answer.
 */
const refuseTooLarge = (request: IncomingMessage, response: ServerResponse) => {
  const body = JSON.stringify(
    errorJson(
      "PAYLOAD_TOO_LARGE",
      `the request body is over ${MAX_BODY_BYTES / (1024 * 1024)} MB, the largest this API accepts; photos go straight to S3 with the presigned POST`,
    ),
  );
  response.writeHead(413, {
    "content-type": "application/json; charset=utf-8",
    "content-length": String(Buffer.byteLength(body)),
    connection: "close",
  });
  response.write(body);
  if (request.readableEnded) return response.end();
  let discarded = 0;
  const cut = setTimeout(() => request.socket.destroy(), DISCARD_LIMIT_MS);
  request.on("data", (chunk: Buffer) => {
    discarded += chunk.length;
    if (discarded > DISCARD_LIMIT_BYTES) request.socket.destroy();
  });
  request.once("end", () => {
    clearTimeout(cut);
    response.end();
  });
  request.once("close", () => clearTimeout(cut));
  request.resume();
};

const isText = (contentType: string | undefined): boolean =>
  !contentType || /^(application\/(json|[\w.+-]+\+json|x-www-form-urlencoded)|text\/)/i.test(contentType);

/** Builds the API Gateway v2 (HTTP API) event that the Lambda integration would receive. */
export const toApiGatewayEvent = (
  request: IncomingMessage,
  url: URL,
  body: Buffer,
  route: CompiledRoute,
  pathParameters: Record<string, string>,
): APIGatewayProxyEventV2 => {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) {
    if (value !== undefined) headers[name.toLowerCase()] = Array.isArray(value) ? value.join(",") : value;
  }
  const text = isText(headers["content-type"]);
  const routeKey = `${route.definition.method} ${route.definition.path}`;
  const now = new Date();
  const queryStringParameters = Object.fromEntries(url.searchParams.entries());
  return {
    version: "2.0",
    routeKey,
    rawPath: url.pathname,
    rawQueryString: url.search.replace(/^\?/, ""),
    headers,
    ...(Object.keys(queryStringParameters).length > 0 ? { queryStringParameters } : {}),
    ...(route.parameterNames.length > 0 ? { pathParameters } : {}),
    requestContext: {
      accountId: "000000000000",
      apiId: "local",
      domainName: headers.host ?? "localhost",
      domainPrefix: "local",
      http: {
        method: request.method ?? "GET",
        path: url.pathname,
        protocol: `HTTP/${request.httpVersion}`,
        sourceIp: request.socket.remoteAddress ?? "127.0.0.1",
        userAgent: headers["user-agent"] ?? "",
      },
      requestId: randomUUID(),
      routeKey,
      stage: "$default",
      time: now.toUTCString(),
      timeEpoch: now.getTime(),
    },
    ...(body.length > 0 ? { body: text ? body.toString("utf8") : body.toString("base64") } : {}),
    isBase64Encoded: body.length > 0 && !text,
  };
};

const sendJson = (response: ServerResponse, statusCode: number, body: unknown) => {
  response.writeHead(statusCode, { "content-type": "application/json; charset=utf-8" });
  response.end(JSON.stringify(body));
};

const errorJson = (code: string, message: string) => ({ error: { code, message, details: [] } });

export interface GatewayOptions {
  routes: GatewayRoute[];
  /** Browser origins whose CORS preflight is allowed (ALLOWED_ORIGINS): API Gateway's CORS configuration. */
  allowedOrigins: readonly string[];
  /** Serves `/assets/{key}` from this bucket: CloudFront's part in AWS. */
  assets: { s3: S3Client; bucket: string };
  /** Served at `/.well-known/jwks.json`: the public keys of the local token issuer, Cognito's part in AWS. */
  jwks?: unknown;
  /**
   * The development sign-in: `POST /local/token` mints a token with this key. Local only: it is not in the
   * route table, so API Gateway never has it.
   */
  signingKey?: SigningKey;
  /**
   * The built dashboard (`web/dist`) served at `/` with its `config.json`, as S3 and CloudFront will serve
   * it in AWS: every GET that is not an API route and asks for HTML gets its `index.html`.
   */
  dashboard?: { dir: string; config: DashboardConfig };
  log: Log;
  timeoutSeconds: number;
}

/**
 * The local API Gateway: matches the shared route table, hands the same handler modules the Lambdas
 * run an API Gateway v2 event, and writes back their structured result. It also stands in for
 * CloudFront in front of the enhanced bucket.
 */
export const createHttpGateway = (options: GatewayOptions): RequestListener => {
  const routes = options.routes.map(compile);
  const DASHBOARD_HEADERS = dashboardHeaders(uploadOriginOf(process.env));

  const serveAsset = async (key: string, response: ServerResponse) => {
    if (!key.startsWith(ENHANCED_PREFIX))
      return sendJson(response, 404, errorJson("NOT_FOUND", "no such asset"));
    try {
      const object = await options.assets.s3.send(
        new GetObjectCommand({ Bucket: options.assets.bucket, Key: key }),
      );
      const bytes = await object.Body?.transformToByteArray();
      response.writeHead(200, {
        "content-type": object.ContentType ?? "application/octet-stream",
        "cache-control": object.CacheControl ?? "public, max-age=60",
        ...(object.ETag ? { etag: object.ETag } : {}),
        "content-length": String(bytes?.length ?? 0),
      });
      response.end(bytes);
    } catch (error) {
      if (error instanceof NoSuchKey) return sendJson(response, 404, errorJson("NOT_FOUND", "no such asset"));
      throw error;
    }
  };

  const sendFile = async (response: ServerResponse, path: string, cacheControl: string) => {
    const bytes = await readFile(path);
    response.writeHead(200, {
      "content-type": CONTENT_TYPES[extname(path)] ?? "application/octet-stream",
      "content-length": String(bytes.length),
      "cache-control": cacheControl,
      ...(extname(path) === ".html" ? DASHBOARD_HEADERS : {}),
    });
    response.end(bytes);
  };

  /** Answers a GET for the dashboard, or returns false when it is not the dashboard's. */
  const serveDashboard = async (
    request: IncomingMessage,
    url: URL,
    response: ServerResponse,
  ): Promise<boolean> => {
    const dashboard = options.dashboard;
    if (!dashboard) return false;
    if (url.pathname === DASHBOARD_CONFIG_PATH) {
      response.writeHead(200, {
        "content-type": "application/json; charset=utf-8",
        "cache-control": "no-store",
      });
      response.end(JSON.stringify(dashboard.config));
      return true;
    }
    const root = normalize(dashboard.dir);
    const index = join(root, "index.html");
    let path: string;
    try {
      path = decodeURIComponent(url.pathname);
    } catch {
      return false;
    }
    const wanted = path === "/" ? index : normalize(join(root, path));
    const isFile = wanted.startsWith(root + sep) && (await stat(wanted).catch(() => undefined))?.isFile();
    if (isFile) {
      // Hashed names never change their bytes; everything else is looked at again on every load.
      const bundled = url.pathname.startsWith(DASHBOARD_BUNDLE_PATH);
      await sendFile(
        response,
        wanted,
        bundled
          ? "public, max-age=31536000, immutable"
          : wanted === index
            ? "no-cache"
            : "public, max-age=3600",
      );
      return true;
    }
    // A missing bundle file is a 404, never the page: a browser would try to run HTML as a script.
    if (url.pathname.startsWith(DASHBOARD_BUNDLE_PATH)) return false;
    // Any other page of the single-page app: a deep link or a reload of /product/{id}.
    if (!/\btext\/html\b/.test(request.headers.accept ?? "")) return false;
    if (!(await stat(index).catch(() => undefined))) {
      sendJson(
        response,
        503,
        errorJson(
          "DASHBOARD_NOT_BUILT",
          "the dashboard is not built: run `npm run web:build` (npm start builds it)",
        ),
      );
      return true;
    }
    await sendFile(response, index, "no-cache");
    return true;
  };

  /** The development sign-in: a token of the local key for a name and its roles. */
  const issueLocalToken = async (request: IncomingMessage, response: ServerResponse, key: SigningKey) => {
    if (!/^application\/json\b/i.test(request.headers["content-type"] ?? "")) {
      return sendJson(
        response,
        415,
        errorJson("UNSUPPORTED_MEDIA_TYPE", "send the request as application/json"),
      );
    }
    const body = await readBody(request);
    if (body === undefined) return refuseTooLarge(request, response);
    let json: unknown;
    try {
      json = JSON.parse(body.toString("utf8"));
    } catch {
      return sendJson(response, 400, errorJson("MALFORMED_JSON", "the request body is not JSON"));
    }
    const parsed = localTokenRequestSchema.safeParse(json);
    if (!parsed.success) {
      const details = parsed.error.issues.map((issue) => ({
        path: issue.path.join(".") || "(body)",
        message: issue.message,
      }));
      return sendJson(response, 400, {
        error: {
          code: "VALIDATION_FAILED",
          message: details.map((detail) => `${detail.path}: ${detail.message}`).join("; "),
          details,
        },
      });
    }
    const now = new Date();
    const accessToken = await mintAccessToken(key, {
      ...parsed.data,
      ttlSeconds: LOCAL_TOKEN_TTL_SECONDS,
      now,
    });
    const answer: LocalTokenResponse = {
      accessToken,
      expiresAt: new Date(
        Math.floor(now.getTime() / 1000) * 1000 + LOCAL_TOKEN_TTL_SECONDS * 1000,
      ).toISOString(),
    };
    response.writeHead(200, {
      "content-type": "application/json; charset=utf-8",
      "cache-control": "no-store",
    });
    response.end(JSON.stringify(answer));
  };

  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    const url = new URL(request.url ?? "/", "http://localhost");
    const method = request.method ?? "GET";
    if (method === "GET" && url.pathname === LOCAL_IDENTITY.jwksPath && options.jwks !== undefined) {
      return sendJson(response, 200, options.jwks);
    }
    if (url.pathname === LOCAL_TOKEN_PATH && options.signingKey) {
      if (method !== "POST") {
        return sendJson(
          response,
          405,
          errorJson("METHOD_NOT_ALLOWED", `${method} is not allowed on ${url.pathname}`),
        );
      }
      return issueLocalToken(request, response, options.signingKey);
    }
    if (method === "GET" && url.pathname.startsWith(ASSETS_PATH)) {
      return serveAsset(decodeURIComponent(url.pathname.slice(ASSETS_PATH.length)), response);
    }
    const matching = routes
      .map((route) => ({ route, match: route.pattern.exec(url.pathname) }))
      .filter((candidate) => candidate.match !== null);
    if (method === "OPTIONS" && matching.length > 0) {
      // API Gateway answers CORS preflight itself when CORS is configured on the HTTP API: the origin back
      // when it is allowed, no CORS headers at all when it is not (the browser then refuses the request).
      const origin = request.headers.origin;
      const allowed = origin !== undefined && options.allowedOrigins.includes(origin.toLowerCase());
      response.writeHead(204, {
        vary: "Origin",
        ...(allowed
          ? {
              "access-control-allow-origin": origin,
              "access-control-allow-methods": CORS_SETTINGS.allowMethods.join(","),
              "access-control-allow-headers": CORS_SETTINGS.allowHeaders.join(","),
              "access-control-max-age": String(CORS_SETTINGS.maxAgeSeconds),
            }
          : {}),
      });
      return response.end();
    }
    const found = matching.find((candidate) => candidate.route.definition.method === method);
    if (matching.length === 0 && method === "GET" && (await serveDashboard(request, url, response))) return;
    if (!found?.match) {
      return matching.length > 0
        ? sendJson(
            response,
            405,
            errorJson("METHOD_NOT_ALLOWED", `${method} is not allowed on ${url.pathname}`),
          )
        : sendJson(response, 404, errorJson("NOT_FOUND", `no route for ${method} ${url.pathname}`));
    }
    const { route, match } = found;
    const body = await readBody(request);
    if (body === undefined) return refuseTooLarge(request, response);
    const pathParameters = Object.fromEntries(
      route.parameterNames.map((name, index) => [name, decodeURIComponent(match[index + 1] ?? "")]),
    );
    const event = toApiGatewayEvent(request, url, body, route, pathParameters);
    const result = await route.handler(
      event,
      lambdaContext(route.definition.handler, options.timeoutSeconds),
    );
    const headers = Object.fromEntries(
      Object.entries(result.headers ?? {}).map(([name, value]) => [name, String(value)]),
    );
    response.writeHead(result.statusCode ?? 200, headers);
    response.end(result.isBase64Encoded ? Buffer.from(result.body ?? "", "base64") : (result.body ?? ""));
  };

  return (request, response) => {
    handle(request, response).catch((error: unknown) => {
      options.log.error("local gateway failed", { error: String(error) });
      if (!response.headersSent) sendJson(response, 500, errorJson("INTERNAL", "internal error"));
      else response.destroy();
    });
  };
};
