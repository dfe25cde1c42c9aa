import type { APIGatewayProxyResultV2 } from "aws-lambda";

/**
 * `$default`: what a page sends. Pushes only go one way; a page sends a ping now and then so API Gateway
 * does not close the connection as idle, and nothing more is needed than to accept it.
 */
export const handler = async (): Promise<APIGatewayProxyResultV2> => ({ statusCode: 200 });
