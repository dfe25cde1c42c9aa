import { parseRequest } from "../../domain/product-input.ts";
import { type ApiDeps, getHistory, historyQuerySchema } from "../../domain/products.ts";
import { apiDepsFromEnvironment } from "../runtime.ts";
import { httpHandler, json, productIdFrom } from "./http-handler.ts";

export const getHistoryHandler = (deps: ApiDeps) =>
  httpHandler(async (event) => {
    const productId = productIdFrom(event);
    const query = parseRequest(historyQuerySchema, event.queryStringParameters ?? {});
    return json(200, await getHistory(deps, productId, query));
  });

export const handler = getHistoryHandler(apiDepsFromEnvironment());
