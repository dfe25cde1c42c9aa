import { parseCreateProducts } from "../../domain/product-input.ts";
import { type ApiDeps, createProducts } from "../../domain/products.ts";
import { apiDepsFromEnvironment } from "../runtime.ts";
import { json, signedInHandler } from "./http-handler.ts";

export const createProductsHandler = (deps: ApiDeps) =>
  signedInHandler(
    deps.tokens,
    async (event, caller) => {
      const { products } = parseCreateProducts(event.body);
      const results = await createProducts(deps, caller, products);
      return json(results.some((result) => result.created) ? 201 : 200, { products: results });
    },
    { jsonBody: true },
  );

export const handler = createProductsHandler(apiDepsFromEnvironment());
