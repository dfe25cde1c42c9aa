import { parseRequest } from "../../domain/product-input.ts";
import type { ApiDeps } from "../../domain/products.ts";
import { reviewDecisionSchema, reviewProduct } from "../../domain/review.ts";
import { apiDepsFromEnvironment } from "../runtime.ts";
import { json, productIdFrom, signedInHandler } from "./http-handler.ts";

export const reviewProductHandler = (deps: ApiDeps) =>
  signedInHandler(
    deps.tokens,
    async (event, caller) => {
      const productId = productIdFrom(event);
      const decision = parseRequest(reviewDecisionSchema, event.body);
      return json(200, await reviewProduct(deps, caller, productId, decision));
    },
    { jsonBody: true },
  );

export const handler = reviewProductHandler(apiDepsFromEnvironment());
