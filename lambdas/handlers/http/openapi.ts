import { json, publicHandler } from "./http-handler.ts";
import { openApiDocument } from "./openapi-document.ts";

/** Built once per cold start: the document depends on nothing but the code. */
const document = openApiDocument();

export const openApiHandler = () => publicHandler(async () => json(200, document));

export const handler = openApiHandler();
