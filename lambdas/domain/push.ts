import { z } from "zod";
import { type Caller, isReviewer } from "./caller.ts";
import { CHANGES } from "./changes.ts";
import type { Clock, Log, ProductRepository } from "./ports.ts";
import type { Product } from "./product.ts";
import { listItem } from "./products.ts";
import { type ChangeEventJson, type ProductChange, productChangeSchema } from "./views.ts";

/**
 * Push: each change of a product is posted, as the changes feed would tell it, to the open dashboards that
 * may see it — its seller's and every reviewer's. It only makes the feed's news arrive sooner: a page takes
 * every change it missed while disconnected from `GET /changes`, so a push that is lost costs latency, never
 * data, and publishing never fails the work that made the change.
 */

/** An open dashboard's connection, as authorised at `$connect`. */
export interface PushConnection {
  connectionId: string;
  /** The token's subject: a seller receives their own products' changes. */
  userId: string;
  /** A reviewer receives every product's changes. */
  reviewer: boolean;
  connectedAt: Date;
  /** The token's expiry: nothing is sent to the connection after it. */
  expiresAt: Date;
}

export interface ConnectionStore {
  add(connection: PushConnection): Promise<void>;
  remove(connectionIds: string[]): Promise<void>;
  /** The connections of this seller and of every reviewer. */
  audience(sellerId: string): Promise<PushConnection[]>;
}

/** API Gateway's `@connections` endpoint: `gone` when the connection no longer exists (410). */
export interface PushChannel {
  post(connectionId: string, message: string): Promise<"sent" | "gone">;
}

/** What the worker and the API call after a product changed. */
export interface ChangePublisher {
  productChanged(productId: string): Promise<void>;
}

/** What a dashboard receives: the product as the changes feed would list it now, and its latest events. */
export const pushMessageSchema = z
  .object({ type: z.literal("change"), change: productChangeSchema })
  .meta({ id: "PushMessage" });
export type PushMessage = z.output<typeof pushMessageSchema>;

/** The authorizer's answer, handed by API Gateway to `$connect` as `requestContext.authorizer`. */
export interface ConnectionGrant {
  userId: string;
  reviewer: boolean;
  /** Epoch seconds: the token's `exp`. */
  expiresAt: number;
}

export const grantFor = (caller: Caller, expiresAt: number): ConnectionGrant => ({
  userId: caller.id,
  reviewer: isReviewer(caller),
  expiresAt,
});

/** API Gateway caps a connection's life; a row older than that lost its `$disconnect`. */
export const isStale = (connection: PushConnection, now: Date, maxConnectionSeconds: number): boolean =>
  connection.expiresAt <= now ||
  now.getTime() - connection.connectedAt.getTime() > maxConnectionSeconds * 1000;

export interface PublisherDeps {
  repository: ProductRepository;
  connections: ConnectionStore;
  channel: PushChannel;
  assetsBaseUrl: string;
  clock: Clock;
  log: Log;
  maxConnectionSeconds: number;
  /** Posts in flight at once for one change. */
  concurrency: number;
}

/** Runs `work` over `items`, at most `limit` at a time. */
const eachLimited = async <T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>) => {
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await work(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
};

const changeOf = async (deps: PublisherDeps, product: Product): Promise<ProductChange> => {
  const [thumbnails, history] = await Promise.all([
    deps.repository.thumbnails([product.id]),
    deps.repository.history(product.id, { limit: CHANGES.eventsPerProduct, order: "newest" }),
  ]);
  return {
    product: listItem(deps.assetsBaseUrl, product, thumbnails),
    events: history.reverse().map((entry) => ({
      id: entry.id,
      event: entry.event,
      variant: entry.variant,
      toStatus: entry.toStatus as ChangeEventJson["toStatus"],
      createdAt: entry.createdAt.toISOString(),
    })),
  };
};

export const createChangePublisher = (deps: PublisherDeps): ChangePublisher => ({
  async productChanged(productId) {
    try {
      const product = await deps.repository.findProduct(productId);
      if (!product) return;
      const now = deps.clock();
      const audience = await deps.connections.audience(product.sellerId);
      // Nobody to tell (no dashboard open): the change is not built, two queries fewer per status change.
      if (audience.length === 0) return;
      const dead = audience.filter((connection) => isStale(connection, now, deps.maxConnectionSeconds));
      const live = audience.filter((connection) => !dead.includes(connection));
      const message =
        live.length > 0
          ? JSON.stringify({ type: "change", change: await changeOf(deps, product) } satisfies PushMessage)
          : "";
      const gone: string[] = [];
      await eachLimited(live, deps.concurrency, async ({ connectionId }) => {
        try {
          if ((await deps.channel.post(connectionId, message)) === "gone") gone.push(connectionId);
        } catch (error) {
          deps.log.warn("could not push a change; the page's feed will bring it", {
            productId,
            connectionId,
            error: String(error),
          });
        }
      });
      const removed = [...dead.map((connection) => connection.connectionId), ...gone];
      if (removed.length > 0) await deps.connections.remove(removed);
    } catch (error) {
      deps.log.warn("could not push a product's change; open pages' feeds will bring it", {
        productId,
        error: String(error),
      });
    }
  },
});
