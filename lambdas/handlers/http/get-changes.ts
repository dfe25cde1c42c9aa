import { changesQuerySchema, followChanges } from "../../domain/changes.ts";
import { parseRequest } from "../../domain/product-input.ts";
import type { ApiDeps } from "../../domain/products.ts";
import { apiDepsFromEnvironment } from "../runtime.ts";
import { json, notModified, signedInHandler } from "./http-handler.ts";

/** The feed is polled: no cache may answer for it. The ETag is the cursor the answer leaves the caller at. */
const headersFor = (cursor: string) => ({ "cache-control": "no-store", etag: `"${cursor}"` });

export const getChangesHandler = (deps: ApiDeps) =>
  signedInHandler(deps.tokens, async (event, caller) => {
    const query = parseRequest(changesQuerySchema, event.queryStringParameters ?? {});
    const outcome = await followChanges(deps, caller, query);
    if (outcome.kind === "unchanged") return notModified(headersFor(outcome.cursor));
    return { ...json(200, outcome.body), headers: headersFor(outcome.body.cursor) };
  });

export const handler = getChangesHandler(apiDepsFromEnvironment());
