import type { ConnectionStore, PushConnection } from "../domain/push.ts";
import type { Db } from "./database.ts";

/** Open dashboards' WebSocket connections, in the `push_connections` table. */
export const createConnectionStore = (db: Db): ConnectionStore => ({
  async add(connection) {
    // A repeated `$connect` of the same id (API Gateway retried it) keeps one row, the latest grant.
    await db
      .insertInto("push_connections")
      .values({
        connection_id: connection.connectionId,
        user_id: connection.userId,
        reviewer: connection.reviewer,
        connected_at: connection.connectedAt,
        expires_at: connection.expiresAt,
      })
      .onDuplicateKeyUpdate({
        user_id: connection.userId,
        reviewer: connection.reviewer,
        connected_at: connection.connectedAt,
        expires_at: connection.expiresAt,
      })
      .execute();
  },
  async remove(connectionIds) {
    if (connectionIds.length === 0) return;
    await db.deleteFrom("push_connections").where("connection_id", "in", connectionIds).execute();
  },
  async audience(sellerId) {
    const rows = await db
      .selectFrom("push_connections")
      .selectAll()
      .where((where) => where.or([where("user_id", "=", sellerId), where("reviewer", "=", true)]))
      .execute();
    return rows.map(
      (row): PushConnection => ({
        connectionId: row.connection_id,
        userId: row.user_id,
        reviewer: Boolean(row.reviewer),
        connectedAt: row.connected_at,
        expiresAt: row.expires_at,
      }),
    );
  },
});
