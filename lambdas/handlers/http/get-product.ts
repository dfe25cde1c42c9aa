import { type ApiDeps, getProduct } from "../../domain/products.ts";
import { apiDepsFromEnvironment } from "../runtime.ts";
import { httpHandler, json, productIdFrom } from "./http-handler.ts";

export const getProductHandler = (deps: ApiDeps) =>
  httpHandler(async (event) => json(200, await getProduct(deps, productIdFrom(event))));

export const handler = getProductHandler(apiDepsFromEnvironment());
