import { type ApiDeps, checkHealth } from "../../domain/products.ts";
import { apiDepsFromEnvironment } from "../runtime.ts";
import { json, publicHandler } from "./http-handler.ts";

export const healthHandler = (deps: ApiDeps) =>
  publicHandler(async () => {
    const report = await checkHealth(deps);
    return json(report.status === "ok" ? 200 : 503, report);
  });

export const handler = healthHandler(apiDepsFromEnvironment());
