import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { createConnectionStore } from "../../lambdas/adapters/connection-store.ts";
import { createProductRepository } from "../../lambdas/adapters/product-repository.ts";
import { createPushChannel } from "../../lambdas/adapters/push-channel.ts";
import type { Log, ProductRepository } from "../../lambdas/domain/ports.ts";
import { newProductSchema } from "../../lambdas/domain/product-input.ts";
import {
  type ChangePublisher,
  type ConnectionStore,
  createChangePublisher,
  type PushMessage,
  pushMessageSchema,
} from "../../lambdas/domain/push.ts";
import { reviewProduct } from "../../lambdas/domain/review.ts";
import { createAuthorizeHandler } from "../../lambdas/handlers/push/authorize.ts";
import { createConnectHandler } from "../../lambdas/handlers/push/connect.ts";
import { createDisconnectHandler } from "../../lambdas/handlers/push/disconnect.ts";
import { handler as messageHandler } from "../../lambdas/handlers/push/message.ts";
import { PUSH } from "../../lambdas/names.ts";
import { type PushGateway, startPushGateway } from "../../local/push-gateway.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { TEST_ASSETS_BASE_URL } from "../support/deps.ts";
import { callerAs, mintToken, testTokens } from "../support/identity.ts";
import { markPendingReview } from "../support/review-fixtures.ts";

/**
 * Push, end to end below the pipeline: the local gateway's WebSocket running the authorizer and `$connect` /
 * `$disconnect` handlers over MariaDB, and the publisher posting through `@aws-sdk/client-apigatewaymanagementapi`
 * to the gateway's `@connections` endpoint: who receives a product's change (its seller and reviewers, never
 * another seller), what a refused token gets, and how dead connections are cleaned up (410 Gone, expiry).
 */
const silent: Log = { info: () => {}, warn: () => {}, error: () => {} };

let database: TestDatabase;
let server: Server;
let gateway: PushGateway;
let pushUrl: string;
let store: ConnectionStore;
let publisher: ChangePublisher;
const opened: WebSocket[] = [];

beforeAll(async () => {
  // The SDK signs its requests; the local endpoint, like API Gateway's, needs credentials of some kind.
  process.env.AWS_ACCESS_KEY_ID ??= "test";
  process.env.AWS_SECRET_ACCESS_KEY ??= "test";
  database = await createTestDatabase("push");
  store = createConnectionStore(database.db);
  server = createServer((_, response) => response.writeHead(404).end());
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  pushUrl = `ws://127.0.0.1:${(server.address() as AddressInfo).port}${PUSH.localPath}`;
  gateway = await startPushGateway({
    server,
    host: "127.0.0.1",
    log: silent,
    timeoutSeconds: 5,
    loadHandlers: async () => ({
      authorize: createAuthorizeHandler(testTokens),
      routes: {
        $connect: createConnectHandler(store),
        $disconnect: createDisconnectHandler(store),
        $default: messageHandler,
      },
    }),
  });
  publisher = publisherOver(createProductRepository(database.db));
});

/** The publisher as the worker builds it, over this database's connections and the gateway's endpoint. */
const publisherOver = (repository: ProductRepository): ChangePublisher =>
  createChangePublisher({
    repository,
    connections: store,
    channel: createPushChannel({ endpoint: gateway.managementUrl, region: "us-east-1" }),
    assetsBaseUrl: TEST_ASSETS_BASE_URL,
    clock: () => new Date(),
    log: silent,
    maxConnectionSeconds: PUSH.maxConnectionSeconds,
    concurrency: PUSH.postConcurrency,
  });

afterEach(async () => {
  await Promise.all(opened.splice(0).map((socket) => closed(socket)));
  await database.admin.deleteFrom("push_connections").execute();
});

afterAll(async () => {
  await gateway.stop();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await database.drop();
});

const closed = (socket: WebSocket) =>
  new Promise<void>((resolve) => {
    if (socket.readyState === WebSocket.CLOSED) return resolve();
    socket.once("close", () => resolve());
    socket.close();
  });

/** A connection as a page makes it, with every message it receives kept in order. */
const connect = async (token: string) => {
  const socket = new WebSocket(`${pushUrl}?${PUSH.tokenParameter}=${encodeURIComponent(token)}`);
  opened.push(socket);
  const messages: PushMessage[] = [];
  socket.on("message", (data) => messages.push(pushMessageSchema.parse(JSON.parse(String(data)))));
  await new Promise<void>((resolve, reject) => {
    socket.once("open", () => resolve());
    socket.once("error", reject);
  });
  return { socket, messages };
};

/** The status code an upgrade was refused with. */
const refusal = (url: string) =>
  new Promise<number>((resolve, reject) => {
    const socket = new WebSocket(url);
    socket.once("unexpected-response", (request, response) => {
      resolve(response.statusCode ?? 0);
      request.destroy();
    });
    socket.on("error", () => {});
    socket.once("open", () => reject(new Error("the connection was accepted")));
  });

const until = async (check: () => boolean | Promise<boolean>, what: string, timeoutMs = 5000) => {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
};

const connectionRows = () =>
  database.admin.selectFrom("push_connections").selectAll().orderBy("user_id").execute();

let serial = 0;
const newProduct = async (sellerId: string) => {
  serial += 1;
  const [created] = await createProductRepository(database.db).createProducts(
    sellerId,
    [
      newProductSchema.parse({
        sku: `PUSH-${serial}`,
        title: `Kettle ${serial}`,
        category: "kitchen",
        mrp: "100.00",
        price: "90.00",
        gst: "18",
        contentType: "image/jpeg",
      }),
    ],
    new Date(),
  );
  if (!created) throw new Error("no product was created");
  return created.product.id;
};

describe("connecting", () => {
  it("keeps a connection with its grant while it is open, and forgets it at $disconnect", async () => {
    const before = Math.floor(Date.now() / 1000);
    const seller = await connect(await mintToken("ada", ["seller"], { ttlSeconds: 600 }));
    const reviewer = await connect(await mintToken("rhea", ["reviewer"]));
    await until(async () => (await connectionRows()).length === 2, "two rows");
    const rows = await connectionRows();
    expect(rows.map((row) => [row.user_id, Boolean(row.reviewer)])).toEqual([
      ["ada", false],
      ["rhea", true],
    ]);
    const adaExpires = Math.floor((rows[0]?.expires_at.getTime() ?? 0) / 1000);
    expect(adaExpires).toBeGreaterThanOrEqual(before + 600);
    expect(adaExpires).toBeLessThanOrEqual(before + 602);
    expect(gateway.connectionCount()).toBe(2);

    await closed(seller.socket);
    await until(async () => (await connectionRows()).length === 1, "the seller's row gone");
    expect((await connectionRows())[0]?.user_id).toBe("rhea");
    await closed(reviewer.socket);
    await until(async () => (await connectionRows()).length === 0, "no rows");
  });

  it("refuses a missing, forged or expired token with 401 and keeps nothing", async () => {
    expect(await refusal(pushUrl)).toBe(401);
    expect(await refusal(`${pushUrl}?${PUSH.tokenParameter}=not-a-jwt`)).toBe(401);
    const expired = await mintToken("ada", ["seller"], {
      now: new Date(Date.now() - 2 * 3600_000),
      ttlSeconds: 60,
    });
    expect(await refusal(`${pushUrl}?${PUSH.tokenParameter}=${expired}`)).toBe(401);
    const otherIssuer = await mintToken("ada", ["seller"], { issuer: "https://elsewhere.example" });
    expect(await refusal(`${pushUrl}?${PUSH.tokenParameter}=${otherIssuer}`)).toBe(401);
    expect(await connectionRows()).toEqual([]);
  });

  it("answers 404 for an upgrade on another path", async () => {
    expect(await refusal(pushUrl.replace(PUSH.localPath, "/elsewhere"))).toBe(404);
  });
});

describe("publishing a product's change", () => {
  it("reaches its seller's and every reviewer's connections, as the feed tells it, and no other seller's", async () => {
    const productId = await newProduct("ada");
    await markPendingReview(database.admin, productId);
    const ada = await connect(await mintToken("ada", ["seller"]));
    const adaAgain = await connect(await mintToken("ada", ["seller"]));
    const bob = await connect(await mintToken("bob", ["seller"]));
    const rhea = await connect(await mintToken("rhea", ["reviewer"]));
    await until(async () => (await connectionRows()).length === 4, "four rows");

    await reviewProduct(
      {
        tokens: testTokens,
        repository: createProductRepository(database.db),
        clock: () => new Date(),
        push: publisher,
      } as unknown as Parameters<typeof reviewProduct>[0],
      callerAs("rhea", "reviewer"),
      productId,
      { decision: "reject", reason: "Background is not white" },
    );
    await until(
      () => ada.messages.length === 1 && adaAgain.messages.length === 1 && rhea.messages.length === 1,
      "the change at the seller's two pages and the reviewer's",
    );
    const { change } = ada.messages[0] as PushMessage;
    expect(change.product).toMatchObject({
      id: productId,
      sellerId: "ada",
      status: "rejected",
      statusReason: "Background is not white",
      thumbnailUrl: `${TEST_ASSETS_BASE_URL}/enhanced/${productId}/1/thumb.jpg`,
    });
    expect(change.events.at(-1)).toMatchObject({ event: "reviewed", toStatus: "rejected" });
    expect(rhea.messages[0]).toEqual(ada.messages[0]);
    // Another seller's page hears nothing of it, not even that something changed.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(bob.messages).toEqual([]);
  });

  it("deletes a connection API Gateway answers 410 Gone for, and one whose token expired, without failing", async () => {
    const productId = await newProduct("cleo");
    const cleo = await connect(await mintToken("cleo", ["seller"]));
    await until(async () => (await connectionRows()).length === 1, "cleo's row");
    const now = new Date();
    await database.admin
      .insertInto("push_connections")
      .values([
        // The client went away without a $disconnect: @connections answers 410.
        {
          connection_id: "Lost0000000000=",
          user_id: "cleo",
          reviewer: false,
          connected_at: now,
          expires_at: new Date(now.getTime() + 3600_000),
        },
        // The token it connected with has expired: nothing is sent to it any more.
        {
          connection_id: "Expired0000000=",
          user_id: "rhea",
          reviewer: true,
          connected_at: new Date(now.getTime() - 3600_000),
          expires_at: new Date(now.getTime() - 1000),
        },
      ])
      .execute();

    await publisher.productChanged(productId);
    await until(() => cleo.messages.length === 1, "cleo's change");
    expect(cleo.messages[0]?.change.product).toMatchObject({ id: productId, status: "pending" });
    await until(async () => (await connectionRows()).length === 1, "the dead rows deleted");
    expect((await connectionRows()).map((row) => row.user_id)).toEqual(["cleo"]);
  });

  it("builds no change when no page is connected: a status change costs the product's row and the audience, nothing more", async () => {
    const productId = await newProduct("dora");
    const repository = createProductRepository(database.db);
    const built: string[] = [];
    const counting = publisherOver({
      ...repository,
      thumbnails: (ids) => {
        built.push("thumbnails");
        return repository.thumbnails(ids);
      },
      history: (id, options) => {
        built.push("history");
        return repository.history(id, options);
      },
    });
    expect(await connectionRows()).toEqual([]);
    await counting.productChanged(productId);
    expect(built).toEqual([]);

    const dora = await connect(await mintToken("dora", ["seller"]));
    await until(async () => (await connectionRows()).length === 1, "dora's row");
    await counting.productChanged(productId);
    await until(() => dora.messages.length === 1, "dora's change");
    expect(built.sort()).toEqual(["history", "thumbnails"]);
  });

  it("publishes nothing, and throws nothing, for a product that does not exist", async () => {
    const cleo = await connect(await mintToken("cleo", ["seller"]));
    await until(async () => (await connectionRows()).length === 1, "cleo's row");
    await expect(publisher.productChanged("00000000-0000-4000-8000-000000000000")).resolves.toBeUndefined();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(cleo.messages).toEqual([]);
  });
});
