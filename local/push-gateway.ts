import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import type {
  APIGatewayAuthorizerResult,
  APIGatewayProxyResultV2,
  APIGatewayProxyWebsocketEventV2,
  APIGatewayRequestAuthorizerEvent,
  Context,
} from "aws-lambda";
import { type WebSocket, WebSocketServer } from "ws";
import type { Log } from "../lambdas/domain/ports.ts";
import { PUSH } from "../lambdas/names.ts";
import { lambdaContext } from "./lambda-context.ts";

type WebSocketLambda = (
  event: APIGatewayProxyWebsocketEventV2,
  context: Context,
) => Promise<APIGatewayProxyResultV2 | undefined>;

export interface PushHandlers {
  authorize: (event: APIGatewayRequestAuthorizerEvent) => Promise<APIGatewayAuthorizerResult>;
  /** By route key: `$connect`, `$disconnect`, `$default`. */
  routes: Record<string, WebSocketLambda>;
}

export interface PushGateway {
  /** The `@connections` management endpoint (`PUSH_ENDPOINT`): on 127.0.0.1 alone, as IAM guards AWS's. */
  managementUrl: string;
  /** Open connections, for tests and the banner. */
  connectionCount(): number;
  stop(): Promise<void>;
}

const STAGE = "local";
const API_ID = "local";
/** The ARN an authorizer sees for `$connect`, in API Gateway's form. */
const CONNECT_ARN = `arn:aws:execute-api:local:000000000000:${API_ID}/${STAGE}/$connect`;
/** API Gateway's frame limit: a post of more is refused with 413, as there. */
const MAX_POST_BYTES = 128 * 1024;

/** API Gateway's connection ids are 12 random bytes in base64, e.g. `L0SM9cOFvHcCIhw=`. */
const newConnectionId = (): string => `${randomBytes(11).toString("base64url")}=`;

const refuseUpgrade = (socket: Socket, status: number, reason: string) => {
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
};

const singleValues = (headers: IncomingMessage["headers"]): Record<string, string> =>
  Object.fromEntries(
    Object.entries(headers).flatMap(([name, value]) =>
      value === undefined ? [] : [[name, Array.isArray(value) ? value.join(",") : value]],
    ),
  );

const readBody = (request: IncomingMessage, limit: number): Promise<Buffer | undefined> =>
  new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
    });
    request.on("end", () => resolve(size > limit ? undefined : Buffer.concat(chunks)));
    request.on("error", reject);
  });

/**
 * API Gateway's WebSocket API, played locally by the `ws` package on the stack's own port: an upgrade to
 * `/push` runs the same authorizer and `$connect` handler modules as in AWS (refused with their status), each
 * frame a page sends runs `$default`, a closed socket runs `$disconnect`, and a private server answers the
 * `@connections` requests that `@aws-sdk/client-apigatewaymanagementapi` makes (POST sends a frame, GET
 * describes, DELETE closes; an unknown id is `410 GoneException`, as API Gateway answers).
 */
export const startPushGateway = async (options: {
  server: Server;
  /**
   * The handler modules, loaded at the first connection: they read `PUSH_ENDPOINT` when imported, and that
   * is this gateway's own address, known once it listens.
   */
  loadHandlers: () => Promise<PushHandlers>;
  host: string;
  log: Log;
  timeoutSeconds: number;
}): Promise<PushGateway> => {
  const { log } = options;
  let loaded: Promise<PushHandlers> | undefined;
  const handlers = () => {
    loaded ??= options.loadHandlers();
    return loaded;
  };
  const sockets = new Map<string, { socket: WebSocket; connectedAt: Date; lastActiveAt: Date; ip: string }>();
  const webSockets = new WebSocketServer({ noServer: true, maxPayload: MAX_POST_BYTES });

  const routeEvent = (
    routeKey: string,
    eventType: "CONNECT" | "DISCONNECT" | "MESSAGE",
    connectionId: string,
    extra: {
      body?: string;
      isBase64Encoded?: boolean;
      headers?: Record<string, string>;
      queryStringParameters?: Record<string, string>;
      requestContext?: Record<string, unknown>;
    } = {},
  ): APIGatewayProxyWebsocketEventV2 => {
    const now = Date.now();
    return {
      isBase64Encoded: false,
      ...extra,
      requestContext: {
        routeKey,
        eventType,
        connectionId,
        messageId: eventType === "MESSAGE" ? randomBytes(8).toString("base64url") : undefined,
        extendedRequestId: randomBytes(8).toString("base64url"),
        requestId: randomBytes(8).toString("base64url"),
        requestTimeEpoch: now,
        messageDirection: "IN",
        stage: STAGE,
        domainName: "localhost",
        apiId: API_ID,
        ...extra.requestContext,
      },
    } as APIGatewayProxyWebsocketEventV2;
  };

  /** Invocations still running, so `stop` lets the last `$disconnect`s finish before the database closes. */
  const running = new Set<Promise<unknown>>();
  const callRoute = async (routeKey: string, event: APIGatewayProxyWebsocketEventV2) => {
    const handler = (await handlers()).routes[routeKey];
    const context = lambdaContext(`push-${routeKey.replace("$", "")}`, options.timeoutSeconds);
    const result = handler ? await handler(event, context) : undefined;
    return typeof result === "object" && result !== null ? result : { statusCode: 200 };
  };
  const invoke = (routeKey: string, event: APIGatewayProxyWebsocketEventV2) => {
    const call = callRoute(routeKey, event);
    running.add(call);
    void call.finally(() => running.delete(call)).catch(() => {});
    return call;
  };

  const onUpgrade = async (request: IncomingMessage, socket: Socket, head: Buffer) => {
    const url = new URL(request.url ?? "/", "http://localhost");
    if (url.pathname !== PUSH.localPath) return refuseUpgrade(socket, 404, "Not Found");
    const connectionId = newConnectionId();
    const query = Object.fromEntries(url.searchParams);
    const headers = singleValues(request.headers);
    const ip = request.socket.remoteAddress ?? "127.0.0.1";
    try {
      let authorized: APIGatewayAuthorizerResult;
      try {
        authorized = await (await handlers()).authorize({
          type: "REQUEST",
          methodArn: CONNECT_ARN,
          headers,
          queryStringParameters: query,
          requestContext: { connectionId, routeKey: "$connect", eventType: "CONNECT", stage: STAGE },
        } as unknown as APIGatewayRequestAuthorizerEvent);
      } catch (error) {
        if (error instanceof Error && error.message === "Unauthorized") {
          return refuseUpgrade(socket, 401, "Unauthorized");
        }
        throw error;
      }
      const allowed = authorized.policyDocument.Statement.some((statement) => statement.Effect === "Allow");
      if (!allowed) return refuseUpgrade(socket, 403, "Forbidden");
      const connected = await invoke(
        "$connect",
        routeEvent("$connect", "CONNECT", connectionId, {
          headers,
          queryStringParameters: query,
          requestContext: {
            authorizer: { ...authorized.context, principalId: authorized.principalId },
            identity: { sourceIp: ip, userAgent: headers["user-agent"] ?? "" },
          },
        }),
      );
      const status = typeof connected === "object" ? (connected.statusCode ?? 200) : 200;
      if (status < 200 || status > 299) return refuseUpgrade(socket, status, "Refused");
    } catch (error) {
      log.error("push connection failed", { error: String(error) });
      return refuseUpgrade(socket, 500, "Internal Server Error");
    }
    webSockets.handleUpgrade(request, socket, head, (webSocket) => {
      const now = new Date();
      sockets.set(connectionId, { socket: webSocket, connectedAt: now, lastActiveAt: now, ip });
      webSocket.on("message", (data, isBinary) => {
        const entry = sockets.get(connectionId);
        if (entry) entry.lastActiveAt = new Date();
        const body = Buffer.isBuffer(data) ? data : Buffer.from(data as ArrayBuffer);
        void invoke(
          "$default",
          routeEvent("$default", "MESSAGE", connectionId, {
            body: isBinary ? body.toString("base64") : body.toString("utf8"),
            isBase64Encoded: isBinary,
          }),
        ).catch((error: unknown) => log.error("push message failed", { error: String(error) }));
      });
      webSocket.on("close", () => {
        sockets.delete(connectionId);
        void invoke("$disconnect", routeEvent("$disconnect", "DISCONNECT", connectionId)).catch(
          (error: unknown) => log.error("push disconnect failed", { error: String(error) }),
        );
      });
    });
  };
  const upgradeListener = (request: IncomingMessage, socket: Socket, head: Buffer) =>
    void onUpgrade(request, socket, head);
  options.server.on("upgrade", upgradeListener);

  const gone = (response: ServerResponse) => {
    response.writeHead(410, {
      "content-type": "application/json",
      "x-amzn-errortype": "GoneException",
    });
    response.end(JSON.stringify({ message: "Gone" }));
  };

  const management = createServer(async (request, response) => {
    const match = /^\/@connections\/([^/?]+)$/.exec((request.url ?? "").split("?")[0] ?? "");
    if (!match?.[1]) {
      response.writeHead(404, { "content-type": "application/json" });
      response.end(JSON.stringify({ message: "Not Found" }));
      return;
    }
    const connectionId = decodeURIComponent(match[1]);
    const entry = sockets.get(connectionId);
    if (request.method === "POST") {
      const body = await readBody(request, MAX_POST_BYTES);
      if (!body) {
        response.writeHead(413, {
          "content-type": "application/json",
          "x-amzn-errortype": "PayloadTooLargeException",
        });
        response.end(JSON.stringify({ message: `a post carries at most ${MAX_POST_BYTES} bytes` }));
        return;
      }
      if (!entry || entry.socket.readyState !== entry.socket.OPEN) return gone(response);
      entry.socket.send(body.toString("utf8"));
      response.writeHead(200).end();
      return;
    }
    if (!entry) return gone(response);
    if (request.method === "DELETE") {
      entry.socket.close(1000, "closed by the server");
      response.writeHead(204).end();
      return;
    }
    if (request.method === "GET") {
      response.writeHead(200, { "content-type": "application/json" });
      response.end(
        JSON.stringify({
          ConnectedAt: entry.connectedAt.toISOString(),
          LastActiveAt: entry.lastActiveAt.toISOString(),
          Identity: { SourceIp: entry.ip, UserAgent: "" },
        }),
      );
      return;
    }
    response.writeHead(405).end();
  });
  const port = await new Promise<number>((resolve, reject) => {
    management.once("error", reject);
    management.listen(0, "127.0.0.1", () => resolve((management.address() as AddressInfo).port));
  });

  return {
    managementUrl: `http://127.0.0.1:${port}`,
    connectionCount: () => sockets.size,
    async stop() {
      options.server.off("upgrade", upgradeListener);
      const closed = [...sockets.values()].map(
        ({ socket }) =>
          new Promise<void>((resolve) => {
            socket.once("close", () => resolve());
            socket.close(1001, "the stack is stopping");
            setTimeout(() => {
              socket.terminate();
              resolve();
            }, 1000).unref();
          }),
      );
      await Promise.all(closed);
      webSockets.close();
      await Promise.allSettled([...running]);
      await new Promise<void>((resolve) => management.close(() => resolve()));
    },
  };
};
