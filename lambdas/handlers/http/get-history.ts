import { parseRequest } from "../../domain/product-input.ts";
import { type ApiDeps, getHistory, historyQuerySchema } from "../../domain/products.ts";
import { apiDepsFromEnvironment } from "../runtime.ts";
import { json, productIdFrom, signedInHandler } from "./http-handler.ts";

export const getHistoryHandler = (deps: ApiDeps) =>
  signedInHandler(deps.tokens, async (event, caller) => {
    const productId = productIdFrom(event);
    const query = parseRequest(historyQuerySchema, event.queryStringParameters ?? {});
    return json(200, await getHistory(deps, caller, productId, query));
  });

export const handler = getHistoryHandler(apiDepsFromEnvironment());
