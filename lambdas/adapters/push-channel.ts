import {
  ApiGatewayManagementApiClient,
  GoneException,
  PostToConnectionCommand,
} from "@aws-sdk/client-apigatewaymanagementapi";
import type { PushChannel } from "../domain/push.ts";

/**
 * API Gateway's `@connections` management endpoint (`PUSH_ENDPOINT`): the WebSocket stage's own URL in AWS,
 * the local gateway's private management server locally, which answers the same requests.
 */
export const createPushChannel = (options: { endpoint: string; region: string }): PushChannel => {
  const client = new ApiGatewayManagementApiClient({
    endpoint: options.endpoint,
    region: options.region,
    // One attempt: a push that fails is not worth delaying the worker for; the page's feed brings the change.
    maxAttempts: 1,
  });
  const encoder = new TextEncoder();
  return {
    async post(connectionId, message) {
      try {
        await client.send(
          new PostToConnectionCommand({ ConnectionId: connectionId, Data: encoder.encode(message) }),
        );
        return "sent";
      } catch (error) {
        if (error instanceof GoneException) return "gone";
        throw error;
      }
    },
  };
};
