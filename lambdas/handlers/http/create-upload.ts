import { createUploadSchema, parseRequest } from "../../domain/product-input.ts";
import { type ApiDeps, createUpload } from "../../domain/products.ts";
import { apiDepsFromEnvironment } from "../runtime.ts";
import { json, productIdFrom, signedInHandler } from "./http-handler.ts";

export const createUploadHandler = (deps: ApiDeps) =>
  signedInHandler(
    deps.tokens,
    async (event, caller) => {
      const productId = productIdFrom(event);
      const { contentType } = parseRequest(createUploadSchema, event.body);
      return json(201, { upload: await createUpload(deps, caller, productId, contentType) });
    },
    { jsonBody: true },
  );

export const handler = createUploadHandler(apiDepsFromEnvironment());
