import middy from "@middy/core";
import httpCors from "@middy/http-cors";
import jsonBodyParser from "@middy/http-json-body-parser";
import httpSecurityHeaders from "@middy/http-security-headers";
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from "aws-lambda";
import { logger } from "../../adapters/logger.ts";
import type { TokenVerifier } from "../../adapters/token-verifier.ts";
import { loadConfig } from "../../config.ts";
import type { Caller } from "../../domain/caller.ts";
import { AppError, type ErrorCode } from "../../domain/errors.ts";
import { DecidedAlready } from "../../domain/review.ts";
import { CORS_SETTINGS } from "../../names.ts";

/** The event after middy's JSON body parser: `body` holds the parsed value, not text. */
export type ApiEvent = Omit<APIGatewayProxyEventV2, "body"> & { body?: unknown };

export interface JsonResult {
  statusCode: number;
  /** Sent as JSON; `undefined` sends no body at all (a 304). */
  body: unknown;
  headers?: Record<string, string>;
}

export const json = (statusCode: number, body: unknown): JsonResult => ({ statusCode, body });

/** 304 Not Modified: headers only. */
export const notModified = (headers: Record<string, string> = {}): JsonResult => ({
  statusCode: 304,
  body: undefined,
  headers,
});

const errorBody = (code: ErrorCode | string, message: string, details: AppError["details"] = []) => ({
  error: { code, message, details },
});

/** middy's own HTTP errors (415 from the body parser, 422 for malformed JSON) carry `statusCode` and `expose`. */
const isMiddyHttpError = (error: unknown): error is Error & { statusCode: number; expose?: boolean } =>
  error instanceof Error && "statusCode" in error && typeof error.statusCode === "number";

/**
 * middy's statuses as this API answers them. Its body parser says 422 for text that is not JSON; a body that
 * cannot be parsed at all is a malformed request (400), and 422 would read as "valid JSON, wrong content",
 * which is what VALIDATION_FAILED already says.
 */
const MIDDY_CODES: Record<number, { status: number; code: string; message: string }> = {
  415: {
    status: 415,
    code: "UNSUPPORTED_MEDIA_TYPE",
    message: "the request body must be JSON (Content-Type: application/json)",
  },
  422: { status: 400, code: "MALFORMED_JSON", message: "the request body is not valid JSON" },
};

/**
 * Every error becomes `{"error": {"code", "message", "details"}}` here and nowhere else. A 5xx says only
 * that something went wrong and which request it was; the cause goes to the log, never to the client.
 */
export const toErrorResponse = (error: unknown, requestId: string): JsonResult => {
  if (error instanceof DecidedAlready) {
    // The losing reviewer sees the decision that won, without another request.
    return json(error.httpStatus, { ...errorBody(error.code, error.message), product: error.product });
  }
  if (error instanceof AppError) {
    const result = json(error.httpStatus, errorBody(error.code, error.message, error.details));
    // RFC 6750: a 401 says which scheme would have worked.
    return error.code === "UNAUTHORIZED"
      ? { ...result, headers: { "www-authenticate": 'Bearer error="invalid_token"' } }
      : result;
  }
  if (isMiddyHttpError(error) && error.statusCode < 500) {
    const known = MIDDY_CODES[error.statusCode];
    return json(
      known?.status ?? error.statusCode,
      errorBody(known?.code ?? "BAD_REQUEST", known?.message ?? "the request is not valid"),
    );
  }
  logger.error("request failed", { error: error as Error, requestId });
  return json(500, errorBody("INTERNAL", `internal error; quote request id ${requestId} when reporting it`));
};

const serialise = (result: JsonResult): APIGatewayProxyStructuredResultV2 =>
  result.body === undefined
    ? { statusCode: result.statusCode, headers: { ...result.headers } }
    : {
        statusCode: result.statusCode,
        headers: { "content-type": "application/json; charset=utf-8", ...result.headers },
        body: JSON.stringify(result.body),
      };

export interface HttpHandlerOptions {
  /** Parse the body as JSON (and refuse other content types with 415). */
  jsonBody?: boolean;
  /** Browser origins answered with CORS headers; default: ALLOWED_ORIGINS, as the function's configuration says. */
  allowedOrigins?: readonly string[];
}

const BEARER = /^Bearer +([A-Za-z0-9._~+/=-]+)$/i;

/** The caller the request's bearer token names, verified; a request without one is refused before anything else. */
const callerOf = async (tokens: TokenVerifier, event: APIGatewayProxyEventV2): Promise<Caller> => {
  const header = event.headers?.authorization;
  if (header === undefined || header.trim() === "") {
    throw new AppError(
      "UNAUTHORIZED",
      "sign in first: send the access token as 'Authorization: Bearer <token>'",
    );
  }
  const token = BEARER.exec(header.trim())?.[1];
  if (token === undefined) {
    throw new AppError("UNAUTHORIZED", "the Authorization header must be 'Bearer <access token>'");
  }
  return tokens.verify(token);
};

type SignedInEvent = APIGatewayProxyEventV2 & { caller?: Caller };

/**
 * The middy stack every route shares: JSON body parsing, one error mapping, CORS and security headers, and
 * for a signed-in route the token check, first of all (a caller without a valid token learns nothing, not
 * even that the body was malformed). The route function returns status + body; it never builds a response.
 */
const chainFor = (
  route: (event: ApiEvent, caller: Caller | undefined) => Promise<JsonResult>,
  options: HttpHandlerOptions & { tokens?: TokenVerifier },
) => {
  const chain = middy<SignedInEvent, APIGatewayProxyStructuredResultV2, Error, Context>();
  const { tokens } = options;
  if (tokens) {
    chain.before(async (request) => {
      request.event.caller = await callerOf(tokens, request.event);
    });
  }
  if (options.jsonBody) chain.use(jsonBodyParser<SignedInEvent>());
  // An origin not listed gets no access-control-allow-origin at all, so the browser keeps the answer from
  // the page; `Vary: Origin` keeps a cache from serving one origin's answer to another.
  const origins = [...(options.allowedOrigins ?? loadConfig().allowedOrigins)];
  return chain
    .use(httpSecurityHeaders())
    .use(
      httpCors({
        origins,
        methods: CORS_SETTINGS.allowMethods.join(","),
        headers: CORS_SETTINGS.allowHeaders.join(","),
        vary: "Origin",
      }),
    )
    .use({
      onError: (request) => {
        request.response = serialise(toErrorResponse(request.error, request.context.awsRequestId));
      },
    })
    .handler(async (event) => serialise(await route(event as ApiEvent, event.caller)));
};

/** A route anyone may call (`access: "public"` in the route table). */
export const publicHandler = (
  route: (event: ApiEvent) => Promise<JsonResult>,
  options: HttpHandlerOptions = {},
) => chainFor((event) => route(event), options);

/** A route for signed-in callers: the route function receives the verified caller. */
export const signedInHandler = (
  tokens: TokenVerifier,
  route: (event: ApiEvent, caller: Caller) => Promise<JsonResult>,
  options: HttpHandlerOptions = {},
) =>
  chainFor(
    async (event, caller) => {
      if (!caller) throw new Error("a signed-in route ran without a verified caller");
      return route(event, caller);
    },
    { ...options, tokens },
  );

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * The `{id}` path parameter in its one canonical form, lower case (as ids are made): a UUID is the same id in
 * any case, so `/products/D1FBA404-…` finds the same product and answers with the id as stored. Anything
 * that is not a product id is a product that does not exist.
 */
export const productIdFrom = (event: ApiEvent): string => {
  const given = event.pathParameters?.id ?? "";
  const id = given.toLowerCase();
  if (!UUID.test(id)) throw new AppError("NOT_FOUND", `product ${given} does not exist`);
  return id;
};
