import { Duration } from "aws-cdk-lib";
import { AccessLogFormat } from "aws-cdk-lib/aws-apigateway";
import {
  CorsHttpMethod,
  HttpApi,
  HttpMethod,
  HttpNoneAuthorizer,
  type HttpRoute,
  HttpStage,
  type IHttpRouteAuthorizer,
  LogGroupLogDestination,
} from "aws-cdk-lib/aws-apigatewayv2";
import { HttpUserPoolAuthorizer } from "aws-cdk-lib/aws-apigatewayv2-authorizers";
import { HttpLambdaIntegration } from "aws-cdk-lib/aws-apigatewayv2-integrations";
import { PolicyStatement } from "aws-cdk-lib/aws-iam";
import type { NodejsFunction } from "aws-cdk-lib/aws-lambda-nodejs";
import { LogGroup, RetentionDays } from "aws-cdk-lib/aws-logs";
import type { IQueue } from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";
import { BUCKETS, CORS_SETTINGS, ENV, RAW_PREFIX, ROUTES, type RouteHandlerName } from "../lambdas/names.ts";
import type { Database } from "./database.ts";
import type { GeminiKey } from "./gemini-key.ts";
import type { Identity } from "./identity.ts";
import { pixelLabFunction } from "./lambda-function.ts";
import type { Storage } from "./storage.ts";

export interface ApiProps {
  stage: string;
  storage: Storage;
  queue: IQueue;
  database: Database;
  /** The user pool whose access tokens, issued to the dashboard's client, the signed-in routes accept. */
  identity: Identity;
  /** The Gemini API key's secret: /health may tell whether it is set, never read it. */
  geminiKey: GeminiKey;
  environment: Record<string, string>;
  /** Origins allowed to call the API from a browser (never `*`). */
  allowedOrigins: string[];
  throttle?: { rateLimit: number; burstLimit: number };
}

/** The header the dashboard sends its access token in (`Authorization: Bearer <token>`). */
export const TOKEN_SOURCE = "$request.header.Authorization";

/**
 * The HTTP API, built from the same route table as the local gateway: one Lambda per route, throttling and
 * JSON access logs on the default stage. A route's `access` picks its authorizer: `signed-in` routes take the
 * user pool's JWT authorizer (a valid token of the pool, issued to the dashboard's client), and their functions
 * get the pool and client ids to verify the token again and read its groups; `public` routes take none.
 */
export class Api extends Construct {
  readonly httpApi: HttpApi;
  readonly functions: Record<RouteHandlerName, NodejsFunction>;
  readonly routes: Record<RouteHandlerName, HttpRoute>;
  readonly authorizer: HttpUserPoolAuthorizer;

  constructor(scope: Construct, id: string, props: ApiProps) {
    super(scope, id);
    const { storage, queue, database, identity } = props;
    this.authorizer = new HttpUserPoolAuthorizer("UserPoolAuthorizer", identity.userPool, {
      userPoolClients: [identity.dashboardClient],
      identitySource: [TOKEN_SOURCE],
    });
    const signedInEnvironment = {
      ...props.environment,
      [ENV.userPoolId]: identity.userPool.userPoolId,
      [ENV.userPoolClientId]: identity.dashboardClient.userPoolClientId,
    };
    this.httpApi = new HttpApi(this, "HttpApi", {
      apiName: `pixel-lab-${props.stage}`,
      createDefaultStage: false,
      // A route added without an authorizer is signed-in; every route of ROUTES names its own anyway.
      defaultAuthorizer: this.authorizer,
      corsPreflight: {
        allowOrigins: props.allowedOrigins,
        allowMethods: CORS_SETTINGS.allowMethods.map((method) => CorsHttpMethod[method]),
        allowHeaders: [...CORS_SETTINGS.allowHeaders],
        maxAge: Duration.seconds(CORS_SETTINGS.maxAgeSeconds),
      },
    });
    const accessLogs = new LogGroup(this, "AccessLogs", { retention: RetentionDays.THREE_MONTHS });
    new HttpStage(this, "DefaultStage", {
      httpApi: this.httpApi,
      stageName: "$default",
      autoDeploy: true,
      throttle: props.throttle ?? { rateLimit: 50, burstLimit: 100 },
      accessLogSettings: {
        destination: new LogGroupLogDestination(accessLogs),
        format: AccessLogFormat.custom(
          JSON.stringify({
            requestId: "$context.requestId",
            ip: "$context.identity.sourceIp",
            // The caller's user pool id (`sub`), never their email; and why the authorizer refused a token.
            user: "$context.authorizer.claims.sub",
            authorizerError: "$context.authorizer.error",
            time: "$context.requestTime",
            method: "$context.httpMethod",
            routeKey: "$context.routeKey",
            status: "$context.status",
            latencyMs: "$context.responseLatency",
            integrationError: "$context.integrationErrorMessage",
          }),
        ),
      },
    });

    const functions = {} as Record<RouteHandlerName, NodejsFunction>;
    const routes = {} as Record<RouteHandlerName, HttpRoute>;
    for (const route of ROUTES) {
      const signedIn = route.access === "signed-in";
      const fn = pixelLabFunction(this, functionId(route.handler), {
        handler: `http/${route.handler}`,
        environment: signedIn ? signedInEnvironment : props.environment,
      });
      database.cluster.grantDataApiAccess(fn);
      functions[route.handler] = fn;
      // Public routes name HttpNoneAuthorizer, so the default authorizer never applies to them.
      const authorizer: IHttpRouteAuthorizer = signedIn ? this.authorizer : new HttpNoneAuthorizer();
      const [added] = this.httpApi.addRoutes({
        path: route.path,
        methods: [HttpMethod[route.method]],
        integration: new HttpLambdaIntegration(`${functionId(route.handler)}Integration`, fn),
        authorizer,
      });
      if (!added) throw new Error(`no route added for ${route.method} ${route.path}`);
      routes[route.handler] = added;
    }
    this.routes = routes;

    // Presigning a POST signs with the function's own credentials: it needs PutObject on raw/ only.
    for (const handler of ["create-products", "create-upload"] as const) {
      functions[handler].addToRolePolicy(
        new PolicyStatement({
          actions: ["s3:PutObject"],
          resources: [storage.objectsArn(BUCKETS.raw, RAW_PREFIX)],
        }),
      );
    }
    // The product's original photo: HEAD (is it still kept? get-product before presigning a GET signed with the
    // function's own credentials, enhance-product before queueing a re-enhancement of it), so GetObject on raw/
    // alone; ListBucket on raw/ so a photo that expired answers 404, not 403.
    for (const handler of ["get-product", "enhance-product"] as const) {
      functions[handler].addToRolePolicy(
        new PolicyStatement({
          actions: ["s3:GetObject"],
          resources: [storage.objectsArn(BUCKETS.raw, RAW_PREFIX)],
        }),
      );
      functions[handler].addToRolePolicy(
        new PolicyStatement({
          actions: ["s3:ListBucket"],
          resources: [storage.rawBucket.bucketArn],
          conditions: { StringLike: { "s3:prefix": [`${RAW_PREFIX}*`] } },
        }),
      );
    }
    // /health: HeadBucket on both buckets (s3:ListBucket), the queue's attributes and the Gemini key's
    // metadata, nothing more.
    functions.health.addToRolePolicy(
      new PolicyStatement({
        actions: ["s3:ListBucket"],
        resources: [storage.rawBucket.bucketArn, storage.enhancedBucket.bucketArn],
      }),
    );
    functions.health.addToRolePolicy(
      new PolicyStatement({ actions: ["sqs:GetQueueAttributes"], resources: [queue.queueArn] }),
    );
    // Gemini is "configured" when the key's secret has an AWSCURRENT version: DescribeSecret says so, and
    // cannot return the key.
    functions.health.addEnvironment(ENV.geminiApiKeySecretArn, props.geminiKey.secret.secretArn);
    props.geminiKey.grantDescribe(functions.health);
    // Re-enhancement requests reach the worker through the enhance queue.
    queue.grantSendMessages(functions["enhance-product"]);
    this.functions = functions;
  }

  get url(): string {
    return this.httpApi.apiEndpoint;
  }
}

/** `create-products` → `CreateProducts`. */
const functionId = (handler: string) =>
  handler
    .split("-")
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join("");
