import { type ApiDeps, getDuplicates } from "../../domain/products.ts";
import { apiDepsFromEnvironment } from "../runtime.ts";
import { json, productIdFrom, signedInHandler } from "./http-handler.ts";

export const getDuplicatesHandler = (deps: ApiDeps) =>
  signedInHandler(deps.tokens, async (event, caller) =>
    json(200, await getDuplicates(deps, caller, productIdFrom(event))),
  );

export const handler = getDuplicatesHandler(apiDepsFromEnvironment());
