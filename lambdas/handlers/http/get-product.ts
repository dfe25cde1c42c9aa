import { type ApiDeps, getProduct } from "../../domain/products.ts";
import { apiDepsFromEnvironment } from "../runtime.ts";
import { json, productIdFrom, signedInHandler } from "./http-handler.ts";

export const getProductHandler = (deps: ApiDeps) =>
  signedInHandler(deps.tokens, async (event, caller) =>
    json(200, await getProduct(deps, caller, productIdFrom(event))),
  );

export const handler = getProductHandler(apiDepsFromEnvironment());
