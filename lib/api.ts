import { Duration } from "aws-cdk-lib";
import { AccessLogFormat } from "aws-cdk-lib/aws-apigateway";
import {
  CorsHttpMethod,
  HttpApi,
  HttpMethod,
  HttpStage,
  LogGroupLogDestination,
} from "aws-cdk-lib/aws-apigatewayv2";
import { HttpIamAuthorizer } from "aws-cdk-lib/aws-apigatewayv2-authorizers";
import { HttpLambdaIntegration } from "aws-cdk-lib/aws-apigatewayv2-integrations";
import { PolicyStatement } from "aws-cdk-lib/aws-iam";
import type { NodejsFunction } from "aws-cdk-lib/aws-lambda-nodejs";
import { LogGroup, RetentionDays } from "aws-cdk-lib/aws-logs";
import type { IQueue } from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";
import { BUCKETS, CORS_SETTINGS, RAW_PREFIX, ROUTES } from "../lambdas/names.ts";
import type { Database } from "./database.ts";
import { pixelLabFunction } from "./lambda-function.ts";
import type { Storage } from "./storage.ts";

type RouteHandler = (typeof ROUTES)[number]["handler"];

export interface ApiProps {
  stage: string;
  storage: Storage;
  queue: IQueue;
  database: Database;
  environment: Record<string, string>;
  /** Origins allowed to call the API from a browser (never `*`). */
  allowedOrigins: string[];
  throttle?: { rateLimit: number; burstLimit: number };
}

/**
 * The HTTP API, built from the same route table as the local gateway: one Lambda per route, IAM
 * authorization on every route for now, throttling and JSON access logs on the default stage.
 */
export class Api extends Construct {
  readonly httpApi: HttpApi;
  readonly functions: Record<RouteHandler, NodejsFunction>;

  constructor(scope: Construct, id: string, props: ApiProps) {
    super(scope, id);
    const { storage, queue, database } = props;
    this.httpApi = new HttpApi(this, "HttpApi", {
      apiName: `pixel-lab-${props.stage}`,
      createDefaultStage: false,
      defaultAuthorizer: new HttpIamAuthorizer(),
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
            caller: "$context.identity.caller",
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

    const functions = {} as Record<RouteHandler, NodejsFunction>;
    for (const route of ROUTES) {
      const fn = pixelLabFunction(this, functionId(route.handler), {
        handler: `http/${route.handler}`,
        environment: props.environment,
      });
      database.cluster.grantDataApiAccess(fn);
      functions[route.handler] = fn;
      this.httpApi.addRoutes({
        path: route.path,
        methods: [HttpMethod[route.method]],
        integration: new HttpLambdaIntegration(`${functionId(route.handler)}Integration`, fn),
      });
    }

    // Presigning a POST signs with the function's own credentials: it needs PutObject on raw/ only.
    for (const handler of ["create-products", "create-upload"] as const) {
      functions[handler].addToRolePolicy(
        new PolicyStatement({
          actions: ["s3:PutObject"],
          resources: [storage.objectsArn(BUCKETS.raw, RAW_PREFIX)],
        }),
      );
    }
    // /health: HeadBucket on both buckets (s3:ListBucket) and the queue's attributes, nothing more.
    functions.health.addToRolePolicy(
      new PolicyStatement({
        actions: ["s3:ListBucket"],
        resources: [storage.rawBucket.bucketArn, storage.enhancedBucket.bucketArn],
      }),
    );
    functions.health.addToRolePolicy(
      new PolicyStatement({ actions: ["sqs:GetQueueAttributes"], resources: [queue.queueArn] }),
    );
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
