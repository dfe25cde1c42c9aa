import { type ApiDeps, getHistory } from "../../domain/products.ts";
import { apiDepsFromEnvironment } from "../runtime.ts";
import { httpHandler, json, productIdFrom } from "./http-handler.ts";

export const getHistoryHandler = (deps: ApiDeps) =>
  httpHandler(async (event) => json(200, await getHistory(deps, productIdFrom(event))));

export const handler = getHistoryHandler(apiDepsFromEnvironment());
