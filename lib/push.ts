import { AccessLogFormat } from "aws-cdk-lib/aws-apigateway";
import { LogGroupLogDestination, WebSocketApi, WebSocketStage } from "aws-cdk-lib/aws-apigatewayv2";
import { WebSocketLambdaAuthorizer } from "aws-cdk-lib/aws-apigatewayv2-authorizers";
import { WebSocketLambdaIntegration } from "aws-cdk-lib/aws-apigatewayv2-integrations";
import type { IGrantable } from "aws-cdk-lib/aws-iam";
import type { NodejsFunction } from "aws-cdk-lib/aws-lambda-nodejs";
import { LogGroup, RetentionDays } from "aws-cdk-lib/aws-logs";
import { Construct } from "constructs";
import { ENV, PUSH } from "../lambdas/names.ts";
import type { Database } from "./database.ts";
import type { Identity } from "./identity.ts";
import { pixelLabFunction } from "./lambda-function.ts";

export interface PushProps {
  stage: string;
  database: Database;
  /** The user pool whose access tokens the authorizer accepts, as the HTTP API does. */
  identity: Identity;
  environment: Record<string, string>;
  throttle?: { rateLimit: number; burstLimit: number };
}

/** The environment without the database's settings, for a function that never touches it. */
const withoutDatabase = (environment: Record<string, string>) =>
  Object.fromEntries(
    Object.entries(environment).filter(
      ([name]) =>
        ![ENV.databaseClusterArn, ENV.databaseSecretArn, ENV.databaseName, ENV.databaseUrl].includes(
          name as never,
        ),
    ),
  );

/** `connect` → `Connect`. */
const functionId = (handler: string) => handler.charAt(0).toUpperCase() + handler.slice(1);

/**
 * The WebSocket API that pushes each product's change to open dashboards, from the same route table
 * (`PUSH`) as the local gateway's: a Lambda authorizer on `$connect` verifying the token in the `token` query
 * parameter with the HTTP API's verifier, a Lambda per route, and a stage whose `@connections` endpoint the
 * worker, the reconciler and the review functions post to (`grantManagement`).
 */
export class Push extends Construct {
  readonly webSocketApi: WebSocketApi;
  readonly stage: WebSocketStage;
  readonly authorizerFunction: NodejsFunction;
  readonly functions: Record<(typeof PUSH.routes)[number]["handler"], NodejsFunction>;

  constructor(scope: Construct, id: string, props: PushProps) {
    super(scope, id);
    const { identity, database } = props;
    this.authorizerFunction = pixelLabFunction(this, "Authorize", {
      handler: `push/${PUSH.authorizer}`,
      environment: {
        ...withoutDatabase(props.environment),
        [ENV.userPoolId]: identity.userPool.userPoolId,
        [ENV.userPoolClientId]: identity.dashboardClient.userPoolClientId,
      },
      memorySize: 256,
    });
    const authorizer = new WebSocketLambdaAuthorizer("Authorizer", this.authorizerFunction, {
      identitySource: [`route.request.querystring.${PUSH.tokenParameter}`],
    });
    const functions = {} as Push["functions"];
    const integrations = {} as Record<string, WebSocketLambdaIntegration>;
    for (const route of PUSH.routes) {
      // `$default` only accepts the page's pings: it never touches the database.
      const usesDatabase = route.routeKey !== "$default";
      const fn = pixelLabFunction(this, functionId(route.handler), {
        handler: `push/${route.handler}`,
        environment: usesDatabase ? props.environment : withoutDatabase(props.environment),
        memorySize: 256,
      });
      if (usesDatabase) database.cluster.grantDataApiAccess(fn);
      functions[route.handler] = fn;
      integrations[route.routeKey] = new WebSocketLambdaIntegration(
        `${functionId(route.handler)}Integration`,
        fn,
      );
    }
    this.functions = functions;
    const integration = (routeKey: string) => {
      const found = integrations[routeKey];
      if (!found) throw new Error(`PUSH names no handler for ${routeKey}`);
      return found;
    };
    this.webSocketApi = new WebSocketApi(this, "WebSocketApi", {
      apiName: `pixel-lab-${props.stage}-push`,
      connectRouteOptions: { integration: integration("$connect"), authorizer },
      disconnectRouteOptions: { integration: integration("$disconnect") },
      defaultRouteOptions: { integration: integration("$default") },
    });
    const accessLogs = new LogGroup(this, "AccessLogs", { retention: RetentionDays.THREE_MONTHS });
    this.stage = new WebSocketStage(this, "Stage", {
      webSocketApi: this.webSocketApi,
      stageName: "live",
      autoDeploy: true,
      throttle: props.throttle ?? { rateLimit: 50, burstLimit: 100 },
      accessLogSettings: {
        destination: new LogGroupLogDestination(accessLogs),
        format: AccessLogFormat.custom(
          JSON.stringify({
            requestId: "$context.requestId",
            ip: "$context.identity.sourceIp",
            connectionId: "$context.connectionId",
            // The user the authorizer admitted, never the token (the query string is not logged).
            user: "$context.authorizer.principalId",
            authorizerError: "$context.authorizer.error",
            time: "$context.requestTime",
            eventType: "$context.eventType",
            routeKey: "$context.routeKey",
            status: "$context.status",
            integrationError: "$context.integrationErrorMessage",
          }),
        ),
      },
    });
  }

  /** What the dashboard connects to: `wss://{api}.execute-api.{region}.amazonaws.com/live`. */
  get url(): string {
    return this.stage.url;
  }

  /** The `@connections` endpoint (`PUSH_ENDPOINT`): the same host over https. */
  get callbackUrl(): string {
    return this.stage.callbackUrl;
  }

  /** `execute-api:ManageConnections` on this stage's connections: who may post changes. */
  grantManagement(grantee: IGrantable): void {
    this.stage.grantManagementApiAccess(grantee);
  }
}
