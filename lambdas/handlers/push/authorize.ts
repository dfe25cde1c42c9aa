import type { APIGatewayAuthorizerResult, APIGatewayRequestAuthorizerEvent } from "aws-lambda";
import { logger } from "../../adapters/logger.ts";
import { createTokenVerifier, type TokenVerifier } from "../../adapters/token-verifier.ts";
import { AppError } from "../../domain/errors.ts";
import { grantFor } from "../../domain/push.ts";
import { PUSH } from "../../names.ts";
import { processConfig } from "../runtime.ts";

/**
 * The WebSocket API's `$connect` authorizer: the token in the `token` query parameter is verified by the same
 * code as the HTTP API's bearer tokens, and the grant (who, whether a reviewer, until when) is handed to
 * `$connect` as the authorizer's context. A token that does not verify is refused with API Gateway's 401
 * (the `Unauthorized` error is API Gateway's contract for it), so no connection is made.
 */
export const createAuthorizeHandler =
  (tokens: TokenVerifier) =>
  async (event: APIGatewayRequestAuthorizerEvent): Promise<APIGatewayAuthorizerResult> => {
    const token = event.queryStringParameters?.[PUSH.tokenParameter];
    if (!token) throw new Error("Unauthorized");
    let caller: Awaited<ReturnType<TokenVerifier["verify"]>>;
    try {
      caller = await tokens.verify(token);
    } catch (error) {
      if (error instanceof AppError) {
        logger.info("push connection refused", { reason: error.message });
        throw new Error("Unauthorized");
      }
      throw error;
    }
    const expiresAt = Math.floor(
      (caller.expiresAt?.getTime() ?? Date.now() + PUSH.maxConnectionSeconds * 1000) / 1000,
    );
    const grant = grantFor(caller, expiresAt);
    return {
      principalId: caller.id,
      policyDocument: {
        Version: "2012-10-17",
        Statement: [{ Action: "execute-api:Invoke", Effect: "Allow", Resource: event.methodArn }],
      },
      context: { userId: grant.userId, reviewer: grant.reviewer, expiresAt: grant.expiresAt },
    };
  };

export const handler = createAuthorizeHandler(createTokenVerifier(processConfig().identity));
