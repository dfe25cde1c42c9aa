import type { APIGatewayProxyResultV2, APIGatewayProxyWebsocketEventV2 } from "aws-lambda";
import { createConnectionStore } from "../../adapters/connection-store.ts";
import type { ConnectionStore } from "../../domain/push.ts";
import { processDb } from "../runtime.ts";

/** `$disconnect` (best effort in API Gateway: a post answered 410 Gone removes what this misses). */
export const createDisconnectHandler =
  (connections: ConnectionStore) =>
  async (event: APIGatewayProxyWebsocketEventV2): Promise<APIGatewayProxyResultV2> => {
    await connections.remove([event.requestContext.connectionId]);
    return { statusCode: 200 };
  };

export const handler = createDisconnectHandler(createConnectionStore(processDb()));
