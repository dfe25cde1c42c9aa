import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import type { CloudFormationCustomResourceEvent } from "aws-lambda";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createMysqlDb } from "../../lambdas/adapters/database.ts";
import { readDatabaseCredentials } from "../../lambdas/adapters/secrets.ts";
import { migrationHandler } from "../../lambdas/handlers/migrate.ts";
import { compareGrants, dropAppUser, inspectAppUser } from "../../schema/app-user.ts";
import { createTestDatabase, type TestDatabase, withCredentials } from "../support/database.ts";

/**
 * The deploy-time migration function over the Data API as the admin, reading the app user's secret from
 * Secrets Manager with the real SDK client (pointed at a stand-in that answers GetSecretValue).
 */
const SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:pixel-lab-test-app-AbCdEf";
const user = `pl_test_mig_${randomBytes(4).toString("hex")}`;
let secretString = "";
let secrets: Server;
let client: SecretsManagerClient;
let database: TestDatabase;

const event = (RequestType: "Create" | "Update" | "Delete") =>
  ({ RequestType, ResourceType: "Custom::PixelLabSchema" }) as unknown as CloudFormationCustomResourceEvent;

const signIn = async (password: string) => {
  const db = createMysqlDb(withCredentials(database.adminUrl, user, password), { connectionLimit: 1 });
  try {
    return (await sql<{ n: number }>`SELECT COUNT(*) AS n FROM products`.execute(db)).rows;
  } finally {
    await db.destroy();
  }
};

beforeAll(async () => {
  secrets = createServer((request, response) => {
    let body = "";
    request.on("data", (chunk: Buffer) => {
      body += chunk.toString();
    });
    request.on("end", () => {
      const target = request.headers["x-amz-target"];
      const { SecretId } = JSON.parse(body || "{}") as { SecretId?: string };
      response.writeHead(target === "secretsmanager.GetSecretValue" && SecretId === SECRET_ARN ? 200 : 400, {
        "content-type": "application/x-amz-json-1.1",
      });
      response.end(
        JSON.stringify({ ARN: SECRET_ARN, Name: "pixel-lab-test-app", SecretString: secretString }),
      );
    });
  });
  await new Promise<void>((resolve) => secrets.listen(0, "127.0.0.1", resolve));
  client = new SecretsManagerClient({
    region: "us-east-1",
    endpoint: `http://127.0.0.1:${(secrets.address() as AddressInfo).port}`,
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
    maxAttempts: 1,
  });
  database = await createTestDatabase("migrate_handler", {
    driver: "data-api",
    migrated: false,
    as: "admin",
  });
});

afterAll(async () => {
  await dropAppUser(database.admin, user);
  await database.drop();
  client.destroy();
  await new Promise<void>((resolve) => secrets.close(() => resolve()));
});

describe("the migration function", () => {
  const handler = () =>
    migrationHandler({
      db: database.db,
      database: database.name,
      appUser: () => readDatabaseCredentials(client, SECRET_ARN),
    });

  it("migrates, then creates the app user from its secret with exactly its grants", async () => {
    const password = randomBytes(18).toString("base64url");
    secretString = JSON.stringify({ username: user, password, engine: "mysql", port: 3306 });
    const result = await handler()(event("Create"));
    expect(result).toMatchObject({ PhysicalResourceId: "pixel-lab-schema", Data: { appUser: user } });
    expect(result.Data?.applied).toMatch(/^(001_initial,|none$)/);
    expect(compareGrants(await inspectAppUser(database.admin, user), database.name)).toEqual({
      missing: [],
      extra: [],
    });
    expect(await signIn(password)).toEqual([{ n: 0 }]);
  });

  it("on the next deploy sets the password the secret now holds", async () => {
    const before = randomBytes(18).toString("base64url");
    secretString = JSON.stringify({ username: user, password: before });
    await handler()(event("Update"));
    const after = randomBytes(18).toString("base64url");
    secretString = JSON.stringify({ username: user, password: after });
    const result = await handler()(event("Update"));
    expect(result).toMatchObject({ Data: { applied: "none", appUser: user } });
    await expect(signIn(before)).rejects.toThrow(/Access denied/);
    expect(await signIn(after)).toEqual([{ n: 0 }]);
  });

  it("leaves the schema and the user alone on delete", async () => {
    secretString = JSON.stringify({ username: user, password: randomBytes(18).toString("base64url") });
    await handler()(event("Update"));
    expect(await handler()(event("Delete"))).toEqual({ PhysicalResourceId: "pixel-lab-schema" });
    expect((await inspectAppUser(database.admin, user)).exists).toBe(true);
    const tables = await sql<{ n: number }>`SELECT COUNT(*) AS n FROM information_schema.TABLES
      WHERE TABLE_SCHEMA = ${database.name} AND TABLE_NAME = 'products'`.execute(database.admin);
    expect(Number(tables.rows[0]?.n)).toBe(1);
  });
});

describe("reading a database secret", () => {
  it("names a secret that is not a database user's", async () => {
    secretString = JSON.stringify({ apiKey: "x" });
    await expect(readDatabaseCredentials(client, SECRET_ARN)).rejects.toThrow(
      `secret ${SECRET_ARN} has no username and password`,
    );
    secretString = "not json";
    await expect(readDatabaseCredentials(client, SECRET_ARN)).rejects.toThrow(
      `secret ${SECRET_ARN} is not JSON`,
    );
  });
});
