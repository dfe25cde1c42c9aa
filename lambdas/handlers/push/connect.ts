import type { APIGatewayProxyResultV2, APIGatewayProxyWebsocketEventV2 } from "aws-lambda";
import { z } from "zod";
import { createConnectionStore } from "../../adapters/connection-store.ts";
import { logger } from "../../adapters/logger.ts";
import type { ConnectionStore } from "../../domain/push.ts";
import { processDb } from "../runtime.ts";

/** The authorizer's context as API Gateway hands it on (values may arrive as text). */
const grantSchema = z.object({
  userId: z.string().min(1),
  reviewer: z.union([z.boolean(), z.enum(["true", "false"]).transform((text) => text === "true")]),
  expiresAt: z.coerce.number().int().positive(),
});

/** `$connect`, after the authorizer admitted the token: the connection is kept with the grant it carried. */
export const createConnectHandler =
  (connections: ConnectionStore, clock: () => Date = () => new Date()) =>
  async (event: APIGatewayProxyWebsocketEventV2): Promise<APIGatewayProxyResultV2> => {
    const context = event.requestContext as typeof event.requestContext & { authorizer?: unknown };
    const grant = grantSchema.safeParse(context.authorizer);
    if (!grant.success) {
      // Only a deployment without the authorizer gets here: refuse rather than push to an unknown reader.
      logger.error("push connection without an authorizer's grant", { issues: grant.error.issues });
      return { statusCode: 401 };
    }
    await connections.add({
      connectionId: context.connectionId,
      userId: grant.data.userId,
      reviewer: grant.data.reviewer,
      connectedAt: clock(),
      expiresAt: new Date(grant.data.expiresAt * 1000),
    });
    return { statusCode: 200 };
  };

export const handler = createConnectHandler(createConnectionStore(processDb()));
