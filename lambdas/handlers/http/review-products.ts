import { parseRequest } from "../../domain/product-input.ts";
import type { ApiDeps } from "../../domain/products.ts";
import { bulkReviewSchema, reviewProducts } from "../../domain/review.ts";
import { apiDepsFromEnvironment } from "../runtime.ts";
import { json, signedInHandler } from "./http-handler.ts";

export const reviewProductsHandler = (deps: ApiDeps) =>
  signedInHandler(
    deps.tokens,
    async (event, caller) => {
      const { reviews } = parseRequest(bulkReviewSchema, event.body);
      return json(200, { results: await reviewProducts(deps, caller, reviews) });
    },
    { jsonBody: true },
  );

export const handler = reviewProductsHandler(apiDepsFromEnvironment());
