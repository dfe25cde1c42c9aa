import { parseRequest } from "../../domain/product-input.ts";
import { type ApiDeps, listProducts, productListQuerySchema } from "../../domain/products.ts";
import { apiDepsFromEnvironment } from "../runtime.ts";
import { httpHandler, json } from "./http-handler.ts";

export const listProductsHandler = (deps: ApiDeps) =>
  httpHandler(async (event) => {
    const query = parseRequest(productListQuerySchema, event.queryStringParameters ?? {});
    return json(200, await listProducts(deps, query));
  });

export const handler = listProductsHandler(apiDepsFromEnvironment());
