import { parseRequest } from "../../domain/product-input.ts";
import { type ApiDeps, listProducts, productListQuerySchema } from "../../domain/products.ts";
import { apiDepsFromEnvironment } from "../runtime.ts";
import { json, signedInHandler } from "./http-handler.ts";

export const listProductsHandler = (deps: ApiDeps) =>
  signedInHandler(deps.tokens, async (event, caller) => {
    const query = parseRequest(productListQuerySchema, event.queryStringParameters ?? {});
    return json(200, await listProducts(deps, caller, query));
  });

export const handler = listProductsHandler(apiDepsFromEnvironment());
