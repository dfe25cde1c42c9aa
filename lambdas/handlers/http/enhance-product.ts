import { parseRequest } from "../../domain/product-input.ts";
import { type ApiDeps, reenhanceRequestSchema, requestReenhancement } from "../../domain/products.ts";
import { apiDepsFromEnvironment } from "../runtime.ts";
import { httpHandler, json, productIdFrom } from "./http-handler.ts";

export const enhanceProductHandler = (deps: ApiDeps) =>
  httpHandler(
    async (event) => {
      const productId = productIdFrom(event);
      const request = parseRequest(reenhanceRequestSchema, event.body);
      return json(202, await requestReenhancement(deps, productId, request));
    },
    { jsonBody: true },
  );

export const handler = enhanceProductHandler(apiDepsFromEnvironment());
