import { writeFile } from "node:fs/promises";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { openApiDocument } from "../lambdas/handlers/http/openapi-document.ts";

/**
 * `npm run openapi [-- <file>]`: writes the API's OpenAPI 3.1 document as JSON, by default to `openapi.json`
 * at the repository's root. A relative path is taken from where npm was run.
 */
const root = fileURLToPath(new URL("..", import.meta.url));
const given = process.argv[2];
const target = given ? resolve(process.env.INIT_CWD ?? process.cwd(), given) : resolve(root, "openapi.json");

try {
  await writeFile(target, `${JSON.stringify(openApiDocument(), null, 2)}\n`);
  process.stdout.write(`wrote the OpenAPI document to ${target}\n`);
} catch (error) {
  process.stderr.write(`could not write the OpenAPI document: ${(error as Error).message}\n`);
  process.exit(1);
}
