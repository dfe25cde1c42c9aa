import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { S3Client } from "@aws-sdk/client-s3";
import { logger } from "../../lambdas/adapters/logger.ts";
import { loadConfig } from "../../lambdas/config.ts";
import type { ApiDeps } from "../../lambdas/domain/products.ts";
import { createProductsHandler } from "../../lambdas/handlers/http/create-products.ts";
import { createUploadHandler } from "../../lambdas/handlers/http/create-upload.ts";
import { enhanceProductHandler } from "../../lambdas/handlers/http/enhance-product.ts";
import { getChangesHandler } from "../../lambdas/handlers/http/get-changes.ts";
import { getDuplicatesHandler } from "../../lambdas/handlers/http/get-duplicates.ts";
import { getHistoryHandler } from "../../lambdas/handlers/http/get-history.ts";
import { getProductHandler } from "../../lambdas/handlers/http/get-product.ts";
import { healthHandler } from "../../lambdas/handlers/http/health.ts";
import { listProductsHandler } from "../../lambdas/handlers/http/list-products.ts";
import { openApiHandler } from "../../lambdas/handlers/http/openapi.ts";
import { reviewProductHandler } from "../../lambdas/handlers/http/review-product.ts";
import { reviewProductsHandler } from "../../lambdas/handlers/http/review-products.ts";
import { ROUTES } from "../../lambdas/names.ts";
import { createHttpGateway, type HttpLambda } from "../../local/http-gateway.ts";

const factories: Record<(typeof ROUTES)[number]["handler"], (deps: ApiDeps) => HttpLambda> = {
  "create-products": createProductsHandler,
  "create-upload": createUploadHandler,
  "get-product": getProductHandler,
  "get-duplicates": getDuplicatesHandler,
  "get-history": getHistoryHandler,
  "list-products": listProductsHandler,
  "enhance-product": enhanceProductHandler,
  "review-product": reviewProductHandler,
  "review-products": reviewProductsHandler,
  "get-changes": getChangesHandler,
  openapi: openApiHandler,
  health: healthHandler,
};

/**
 * The shared route table served by the local gateway, with handlers built from the test's own deps. CORS
 * allows ALLOWED_ORIGINS, as the handlers read it (set it before starting to test other origins).
 */
export const startApiServer = async (deps: ApiDeps, assets: { s3: S3Client; bucket: string }) => {
  const routes = ROUTES.map((definition) => ({ definition, handler: factories[definition.handler](deps) }));
  const { allowedOrigins } = loadConfig();
  const server = createServer(
    createHttpGateway({ routes, allowedOrigins, assets, log: logger, timeoutSeconds: 29 }),
  );
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
};

/** One JSON request with the caller's headers (usually `authorization`): status, headers and the parsed body. */
export const jsonRequest = async (
  baseUrl: string,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: unknown,
) => {
  const response = await fetch(`${baseUrl}${path}`, {
    method,
    headers: body === undefined ? headers : { ...headers, "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    // biome-ignore lint/suspicious/noExplicitAny: response bodies are what the assertions examine
    body: (text ? JSON.parse(text) : undefined) as any,
  };
};
