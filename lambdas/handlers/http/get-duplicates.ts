import { type ApiDeps, getDuplicates } from "../../domain/products.ts";
import { apiDepsFromEnvironment } from "../runtime.ts";
import { httpHandler, json, productIdFrom } from "./http-handler.ts";

export const getDuplicatesHandler = (deps: ApiDeps) =>
  httpHandler(async (event) => json(200, await getDuplicates(deps, productIdFrom(event))));

export const handler = getDuplicatesHandler(apiDepsFromEnvironment());
