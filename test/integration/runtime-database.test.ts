import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createMysqlDb } from "../../lambdas/adapters/database.ts";
import type { NewProduct } from "../../lambdas/domain/product-input.ts";
import { TEST_CLUSTER_ARN, TEST_SECRET_ARN } from "../support/data-api-server.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";

let database: TestDatabase;
const saved = { ...process.env };

beforeAll(async () => {
  database = await createTestDatabase("runtime", { driver: "data-api" });
  Object.assign(process.env, {
    DATABASE_CLUSTER_ARN: TEST_CLUSTER_ARN,
    DATABASE_SECRET_ARN: TEST_SECRET_ARN,
    DATABASE_NAME: database.name,
    RDS_DATA_ENDPOINT: database.dataApi?.endpoint,
    // Nothing listens here: a handler that fell back to mysql2 would fail to connect.
    DATABASE_URL: "mysql://nobody@127.0.0.1:1/unused",
    AWS_ACCESS_KEY_ID: "test",
    AWS_SECRET_ACCESS_KEY: "test",
    AWS_REGION: "us-east-1",
  });
});
afterAll(async () => {
  process.env = saved;
  await database.drop();
});

describe("the Lambdas' database", () => {
  it("is the Data API when DATABASE_CLUSTER_ARN is set", async () => {
    const runtime = await import("../../lambdas/handlers/runtime.ts");
    const product: NewProduct = {
      sku: "RUNTIME-1",
      title: "Runtime mug",
      category: "kitchen",
      mrp: "10.00",
      price: "9.00",
      discount: "10",
      gst: "18",
      contentType: "image/jpeg",
    };
    const before = database.dataApi?.calls.length ?? 0;
    try {
      const [result] = await runtime
        .apiDepsFromEnvironment()
        .repository.createProducts("runtime-seller", [product], new Date("2026-02-03T04:05:06.007Z"));
      expect(result?.created).toBe(true);
      const operations = database.dataApi?.calls.slice(before).map((call) => call.operation);
      expect(operations?.[0]).toBe("BeginTransaction");
      expect(operations?.at(-1)).toBe("CommitTransaction");
    } finally {
      await runtime.closeRuntime();
    }
    const direct = createMysqlDb(database.url);
    try {
      const stored = await direct.selectFrom("products").select(["sku", "price"]).execute();
      expect(stored).toEqual([{ sku: "RUNTIME-1", price: "9.00" }]);
    } finally {
      await direct.destroy();
    }
  });
});
