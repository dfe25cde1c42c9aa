import { parseRequest } from "../../domain/product-input.ts";
import { type ApiDeps, reenhanceRequestSchema, requestReenhancement } from "../../domain/products.ts";
import { apiDepsFromEnvironment } from "../runtime.ts";
import { json, productIdFrom, signedInHandler } from "./http-handler.ts";

export const enhanceProductHandler = (deps: ApiDeps) =>
  signedInHandler(
    deps.tokens,
    async (event, caller) => {
      const productId = productIdFrom(event);
      const request = parseRequest(reenhanceRequestSchema, event.body);
      return json(202, await requestReenhancement(deps, caller, productId, request));
    },
    { jsonBody: true },
  );

export const handler = enhanceProductHandler(apiDepsFromEnvironment());
