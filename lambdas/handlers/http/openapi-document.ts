import { z } from "zod";
import {
  createDocument,
  type ZodOpenApiObject,
  type ZodOpenApiOperationObject,
  type ZodOpenApiResponseObject,
} from "zod-openapi";
import { CHANGES, changesQuerySchema } from "../../domain/changes.ts";
import { catalogueFieldsSchema } from "../../domain/product.ts";
import {
  createProductsSchema,
  createUploadSchema,
  MAX_PRODUCTS_PER_REQUEST,
} from "../../domain/product-input.ts";
import { PRODUCT_STATUSES } from "../../domain/product-status.ts";
import { historyQuerySchema, productListQuerySchema, reenhanceRequestSchema } from "../../domain/products.ts";
import {
  MAX_REVIEWS_PER_REQUEST,
  type ReviewItemResult,
  reviewDecisionSchema,
  reviewItemSchema,
} from "../../domain/review.ts";
import {
  changesResponseSchema,
  createProductsResponseSchema,
  duplicateEntrySchema,
  errorBodySchema,
  healthReportSchema,
  historyPageSchema,
  productJsonSchema,
  productListSchema,
  productViewSchema,
  reenhanceAcceptedSchema,
  uploadTicketSchema,
} from "../../domain/views.ts";
import { ROUTES, type RouteDefinition, type RouteHandlerName, USER_GROUPS } from "../../names.ts";

/**
 * The OpenAPI 3.1 description of the HTTP API, built from the route table (`ROUTES`) and the zod schemas the
 * handlers validate requests with and type their answers by. `ROUTE_CONTRACTS` is the one place that says
 * which schema is which part of which route: the document is rendered from it, and the tests check the
 * README's examples against the same schemas.
 */

/** The contract's version: changes when the API does, not with every release of the code. */
export const API_VERSION = "0.1.0";

// ---------------------------------------------------------------------------------------------------------
// Schemas only the description needs

/** One item of POST /reviews' answer (`ReviewItemResult` in review.ts). */
export const reviewItemResultSchema = z
  .object({
    id: z.string().meta({ description: "the item's product id (as stored when the product was found)" }),
    status: z
      .enum(PRODUCT_STATUSES)
      .nullable()
      .meta({ description: "the product's status after this item; null when there is no such product" }),
    error: errorBodySchema.shape.error
      .optional()
      .meta({ description: "why this item was not applied; absent when it was" }),
  })
  .meta({ id: "ReviewResult" });

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const reviewResultMatches: Same<z.output<typeof reviewItemResultSchema>, ReviewItemResult> = true;
void reviewResultMatches;

const reviewItemComponent = reviewItemSchema.meta({
  id: "ReviewItem",
  description:
    "A product id and its decision: approve with the variant that becomes its main image, or reject with a reason.",
});

/** POST /reviews' body as the description shows it: the handler checks the array, then each item alone. */
export const bulkReviewRequestSchema = z
  .object({
    reviews: z.array(reviewItemComponent).min(1).max(MAX_REVIEWS_PER_REQUEST),
  })
  .strict();

export const bulkReviewResponseSchema = z.object({
  results: z
    .array(reviewItemResultSchema)
    .meta({ description: "one result per decision, in the request's order" }),
});

/** The 409 of POST /products/{id}/review: the error and the product as the decision that won left it. */
export const reviewConflictSchema = errorBodySchema.extend({ product: productJsonSchema }).meta({
  id: "ReviewConflict",
  description:
    "The product was decided already (or is not in pending_review): the error and the product as it now is.",
});

export const duplicatesResponseSchema = z.object({ duplicates: z.array(duplicateEntrySchema) });

export const uploadResponseSchema = z.object({ upload: uploadTicketSchema });

/** GET /openapi.json's answer, loosely: this document. */
export const openApiObjectSchema = z.looseObject({
  openapi: z.string(),
  info: z.looseObject({ title: z.string(), version: z.string() }),
  paths: z.record(z.string(), z.unknown()),
});

/** The `{id}` of every product route. Anything that is not a product id is answered 404, not 400. */
const PATH_PARAMETERS: Record<string, z.ZodType> = {
  id: z.guid().meta({
    description: "the product's id, a UUID (any case)",
    example: "3f0c1c9e-8d4a-4c55-9b8e-2f1d7c7a0b42",
  }),
};

/** The discount's default: zod leaves out a default it cannot vouch for as input (the default of a transform). */
const DISCOUNT = catalogueFieldsSchema.shape.discount;

// ---------------------------------------------------------------------------------------------------------
// The contract of each route

export interface ResponseContract {
  description: string;
  /** Validates the body; the description renders it. Absent: the response has no body (a 304). */
  schema?: z.ZodType;
  headers?: z.ZodObject;
  /** Registered once under `components.responses` by this name, and referred to from each operation. */
  component?: string;
}

export interface RouteContract {
  summary: string;
  /** Who may call it and what it does. */
  description: string;
  tag: keyof typeof TAGS;
  /** Query parameters, as the handler validates them. */
  query?: z.ZodObject;
  /** The JSON body, as the handler validates it. */
  request?: z.ZodType;
  responses: Record<number, ResponseContract>;
}

const TAGS = {
  products: "A seller's products, their photos and their enhancement.",
  review: "Reviewers approve or reject enhanced products.",
  service: "Public: the API's health and this description.",
} as const;

const ok = (description: string, schema: z.ZodType): ResponseContract => ({ description, schema });

const UNAUTHORIZED: ResponseContract = {
  component: "Unauthorized",
  description:
    "UNAUTHORIZED: no bearer token, or one that is expired, malformed, not an access token, or not issued by this API's user pool.",
  schema: errorBodySchema,
  headers: z.object({
    "www-authenticate": z
      .string()
      .meta({ description: "RFC 6750: the scheme that would work", example: 'Bearer error="invalid_token"' }),
  }),
};
const PAYLOAD_TOO_LARGE: ResponseContract = {
  component: "PayloadTooLarge",
  description:
    "PAYLOAD_TOO_LARGE: the body is over 10 MB (photos go to S3 with the presigned POST, never here).",
  schema: errorBodySchema,
};
const UNSUPPORTED_MEDIA_TYPE: ResponseContract = {
  component: "UnsupportedMediaType",
  description: "UNSUPPORTED_MEDIA_TYPE: the body is not sent as Content-Type: application/json.",
  schema: errorBodySchema,
};
const INTERNAL: ResponseContract = {
  component: "Internal",
  description: "INTERNAL: something went wrong on our side; the message quotes the request id to report.",
  schema: errorBodySchema,
};

type ErrorStatus = 400 | 403 | 404 | 409;

/**
 * A signed-in route's errors: 401 and 500 always, 413 and 415 when it takes a JSON body (and 400 then also
 * covers MALFORMED_JSON), and the route's own 400/403/404/409, each described in its words.
 */
const failures = (
  own: Partial<Record<ErrorStatus, string | ResponseContract>>,
  { jsonBody }: { jsonBody: boolean },
): Record<number, ResponseContract> => {
  const responses: Record<number, ResponseContract> = {};
  for (const [status, given] of Object.entries(own)) {
    if (given === undefined) continue;
    const response = typeof given === "string" ? { description: given, schema: errorBodySchema } : given;
    responses[Number(status)] =
      jsonBody && status === "400"
        ? { ...response, description: `${response.description} MALFORMED_JSON: the body is not valid JSON.` }
        : response;
  }
  responses[401] = UNAUTHORIZED;
  if (jsonBody) {
    responses[413] = PAYLOAD_TOO_LARGE;
    responses[415] = UNSUPPORTED_MEDIA_TYPE;
  }
  responses[500] = INTERNAL;
  return responses;
};

/** The changes feed's answers: never cached, and the cursor they leave the caller at. */
const FEED_HEADERS = z.object({
  "cache-control": z.literal("no-store"),
  etag: z.string().meta({ description: "the cursor, quoted", example: '"eyJhZnRlciI6MTA3fQ"' }),
});

const VALIDATION_FAILED = "VALIDATION_FAILED: `details` names every invalid field (`path`, `message`).";
const NOT_FOUND =
  "NOT_FOUND: no product has this id, or (for a seller) it is another seller's: the answer is the same, so a product's existence is never revealed.";
const SELLERS = `\`${USER_GROUPS.sellers}\``;
const REVIEWERS = `\`${USER_GROUPS.reviewers}\``;
const READERS = `A seller (${SELLERS} group) reads only their own products; a reviewer (${REVIEWERS} group) reads every seller's.`;

/**
 * Every route's contract, by handler name. A `Record` over the route table's handler names: a route added to
 * `ROUTES` without a contract here does not compile.
 */
export const ROUTE_CONTRACTS: Record<RouteHandlerName, RouteContract> = {
  "create-products": {
    summary: "Create products in bulk, each with a presigned upload for its photo",
    description: `Sellers only (${SELLERS} group). Creates up to ${MAX_PRODUCTS_PER_REQUEST} of the caller's products at once; each product that still takes photos comes with a presigned POST for its declared content type. A sku the seller already has (case-insensitively) is not created again: its product is answered with \`created: false\`. 201 when at least one product was created, 200 when every one existed already.`,
    tag: "products",
    request: createProductsSchema,
    responses: {
      201: ok("At least one product was created.", createProductsResponseSchema),
      200: ok(
        "Every product existed already (`created: false`); nothing was created.",
        createProductsResponseSchema,
      ),
      ...failures(
        {
          400: `${VALIDATION_FAILED} A sku twice in one request is an error of the later item.`,
          403: `FORBIDDEN: the caller is not in the ${SELLERS} group.`,
        },
        { jsonBody: true },
      ),
    },
  },
  "list-products": {
    summary: "List products, a page at a time",
    description: `${READERS} A reviewer may filter by seller; a seller's \`seller\` filter may name only themselves. Pass \`nextCursor\` back as \`cursor\` for the next page. Unknown query parameters are refused (400).`,
    tag: "products",
    query: productListQuerySchema,
    responses: {
      200: ok("A page of products.", productListSchema),
      ...failures(
        {
          400: `${VALIDATION_FAILED} Also a cursor this API did not return (or one of another sort).`,
          403: "FORBIDDEN: a seller's `seller` filter names another seller.",
        },
        { jsonBody: false },
      ),
    },
  },
  "create-upload": {
    summary: "Get a presigned upload for another photo of a product",
    description: `The product's seller only (${SELLERS} group). Answers a presigned POST: send its \`fields\`, then the file last, as multipart/form-data to its \`url\`. A new photo starts a new enhancement sequence.`,
    tag: "products",
    request: createUploadSchema,
    responses: {
      201: ok("The presigned upload.", uploadResponseSchema),
      ...failures(
        {
          400: VALIDATION_FAILED,
          403: "FORBIDDEN: the caller may read the product but is not its seller (a reviewer).",
          404: NOT_FOUND,
          409: "CONFLICT: the product takes no new photos (it is approved).",
        },
        { jsonBody: true },
      ),
    },
  },
  "get-product": {
    summary: "Read a product: its images, analysis and near-duplicates",
    description: `${READERS} The product with its current images, the analysis of its latest original, and the products its photos nearly duplicate (another seller's product shows as null to a seller).`,
    tag: "products",
    responses: {
      200: ok("The product.", productViewSchema),
      ...failures({ 404: NOT_FOUND }, { jsonBody: false }),
    },
  },
  "get-duplicates": {
    summary: "List a product's near-duplicates",
    description: `${READERS} The products whose photos this product's photos nearly duplicate, closest first (at most 100); another seller's product shows as null to a seller.`,
    tag: "products",
    responses: {
      200: ok("The near-duplicates.", duplicatesResponseSchema),
      ...failures({ 404: NOT_FOUND }, { jsonBody: false }),
    },
  },
  "get-history": {
    summary: "Read a product's enhancement history, a page at a time",
    description: `${READERS} Every event of the product's enhancement history (uploads, variants, failures, review decisions), oldest first by default. Pass \`nextCursor\` back as \`cursor\` for the next page. Unknown query parameters are refused (400).`,
    tag: "products",
    query: historyQuerySchema,
    responses: {
      200: ok("A page of the history.", historyPageSchema),
      ...failures(
        { 400: `${VALIDATION_FAILED} Also a cursor this API did not return.`, 404: NOT_FOUND },
        { jsonBody: false },
      ),
    },
  },
  "enhance-product": {
    summary: "Re-enhance a product's latest photo with a chosen mode",
    description: `The product's seller only (${SELLERS} group). Queues a re-enhancement of the latest original with a chosen mode, profile, format and target size; the worker runs it as a new sequence and the product goes through \`processing\` again.`,
    tag: "products",
    request: reenhanceRequestSchema,
    responses: {
      202: ok("Queued.", reenhanceAcceptedSchema),
      ...failures(
        {
          400: VALIDATION_FAILED,
          403: "FORBIDDEN: the caller may read the product but is not its seller (a reviewer).",
          404: NOT_FOUND,
          409: "CONFLICT: the product is not in pending_review, rejected or failed, has no processed photo yet, or its original has expired.",
        },
        { jsonBody: true },
      ),
    },
  },
  "review-product": {
    summary: "Approve or reject a product",
    description: `Reviewers only (${REVIEWERS} group), on any seller's product in \`pending_review\`: approve it with the variant that becomes its main image, or reject it with a reason the seller can act on. Of two reviewers deciding at once one wins; the other gets a 409 with the product as the winner left it.`,
    tag: "review",
    request: reviewDecisionSchema,
    responses: {
      200: ok("The product after the decision.", productJsonSchema),
      ...failures(
        {
          400: `${VALIDATION_FAILED} Also a \`mainImage\` that is not one of the product's current variants.`,
          403: `FORBIDDEN: the caller is not in the ${REVIEWERS} group.`,
          404: "NOT_FOUND: no product has this id.",
          409: {
            description:
              "CONFLICT: the product is not in pending_review (another reviewer decided first, or it is still processing); `product` is the product as it now is.",
            schema: reviewConflictSchema,
          },
        },
        { jsonBody: true },
      ),
    },
  },
  "review-products": {
    summary: "Approve or reject many products",
    description: `Reviewers only (${REVIEWERS} group). Up to ${MAX_REVIEWS_PER_REQUEST} decisions, each applied and answered on its own, in order: a bad item (invalid, no such product, decided already) is answered with an \`error\` in its place and never blocks the others, so the answer is 200 even when items failed.`,
    tag: "review",
    request: bulkReviewRequestSchema,
    responses: {
      200: ok("One result per decision.", bulkReviewResponseSchema),
      ...failures(
        {
          400: `${VALIDATION_FAILED} Only for the body as a whole (\`reviews\` missing, empty or too long); a bad item is answered in its place.`,
          403: `FORBIDDEN: the caller is not in the ${REVIEWERS} group.`,
        },
        { jsonBody: true },
      ),
    },
  },
  "get-changes": {
    summary: "Follow what changed since a cursor",
    description: `${READERS} Without \`since\`, answers the current cursor and no changes: take it before loading \`GET /products\`, then call again with the \`cursor\` of each answer, every second or so and after a push reconnect. Each product that changed since the cursor comes once, as it is now, with what happened to it (the latest ${CHANGES.eventsPerProduct} history rows), at most ${CHANGES.products} products an answer; \`more: true\` says to call again at once. 304, with no body, when nothing changed: keep the cursor. Unknown query parameters are refused (400).`,
    tag: "products",
    query: changesQuerySchema,
    responses: {
      200: {
        ...ok("What changed, and the cursor to follow from.", changesResponseSchema),
        headers: FEED_HEADERS,
      },
      304: {
        description: "Nothing changed since the cursor: no body; call again later with the same cursor.",
        headers: FEED_HEADERS,
      },
      ...failures(
        {
          400: `${VALIDATION_FAILED} Also a \`since\` this API did not return, or one past the newest change (another deployment's, or a reset database's): start again without it.`,
        },
        { jsonBody: false },
      ),
    },
  },
  openapi: {
    summary: "This description of the API",
    description: "Public. The OpenAPI 3.1 document of this API (also written by `npm run openapi`).",
    tag: "service",
    responses: { 200: ok("The OpenAPI document.", openApiObjectSchema), 500: INTERNAL },
  },
  health: {
    summary: "Check the API's dependencies",
    description:
      "Public. Checks the database, the object store and the queue, each with a time limit: 200 when every one answers, 503 when any does not (the body says which).",
    tag: "service",
    responses: {
      200: ok("Every dependency answered.", healthReportSchema),
      503: ok("A dependency did not answer: `checks` says which.", healthReportSchema),
      500: INTERNAL,
    },
  },
};

// ---------------------------------------------------------------------------------------------------------
// The document

const pathParametersOf = (route: RouteDefinition): z.ZodObject | undefined => {
  const names = [...route.path.matchAll(/\{(\w+)\}/g)].map((match) => match[1] as string);
  if (names.length === 0) return undefined;
  return z.object(
    Object.fromEntries(
      names.map((name) => {
        const schema = PATH_PARAMETERS[name];
        if (!schema)
          throw new Error(`${route.method} ${route.path}: no schema for the path parameter {${name}}`);
        return [name, schema];
      }),
    ),
  );
};

const operationFor = (
  route: RouteDefinition,
  contract: RouteContract,
  responseOf: (response: ResponseContract) => ZodOpenApiResponseObject,
): ZodOpenApiOperationObject => {
  const path = pathParametersOf(route);
  return {
    operationId: route.handler,
    summary: contract.summary,
    description: contract.description,
    tags: [contract.tag],
    security: route.access === "signed-in" ? [{ bearer: [] }] : [],
    ...(path || contract.query
      ? { requestParams: { ...(path ? { path } : {}), ...(contract.query ? { query: contract.query } : {}) } }
      : {}),
    ...(contract.request
      ? { requestBody: { required: true, content: { "application/json": { schema: contract.request } } } }
      : {}),
    responses: Object.fromEntries(
      Object.entries(contract.responses).map(([status, response]) => [status, responseOf(response)]),
    ),
  };
};

/** The OpenAPI 3.1 document of the HTTP API: one operation per route of `ROUTES`. */
export const openApiDocument = () => {
  // One response object per shared contract, so zod-openapi registers it once and refers to it.
  const responses = new Map<ResponseContract, ZodOpenApiResponseObject>();
  const responseOf = (response: ResponseContract): ZodOpenApiResponseObject => {
    const known = responses.get(response);
    if (known) return known;
    const rendered: ZodOpenApiResponseObject = {
      description: response.description,
      ...(response.schema ? { content: { "application/json": { schema: response.schema } } } : {}),
      ...(response.headers ? { headers: response.headers } : {}),
      ...(response.component ? { id: response.component } : {}),
    };
    responses.set(response, rendered);
    return rendered;
  };

  const paths: NonNullable<ZodOpenApiObject["paths"]> = {};
  for (const route of ROUTES) {
    const item = paths[route.path] ?? {};
    item[route.method === "GET" ? "get" : "post"] = operationFor(
      route,
      ROUTE_CONTRACTS[route.handler],
      responseOf,
    );
    paths[route.path] = item;
  }

  return createDocument(
    {
      openapi: "3.1.0",
      info: {
        title: "Pixel Lab API",
        version: API_VERSION,
        description: [
          "Bulk product creation, presigned photo uploads, image enhancement and review.",
          "",
          "**Signing in.** Every route but `GET /health` and `GET /openapi.json` needs an access token as `Authorization: Bearer <token>`: in AWS, a Cognito access token of the API's user pool and app client; on the local stack (`npm start`), one minted by `npm run token -- --seller alice` (or `--reviewer bob`).",
          `The user's groups are its roles: ${SELLERS} create products and manage their own; ${REVIEWERS} read every seller's products and approve or reject them.`,
          "",
          '**Errors.** Every error is `{"error": {"code", "message", "details"}}` (the `Error` schema).',
        ].join("\n"),
      },
      tags: Object.entries(TAGS).map(([name, description]) => ({ name, description })),
      paths,
      components: {
        securitySchemes: {
          bearer: {
            type: "http",
            scheme: "bearer",
            bearerFormat: "JWT",
            description: `A Cognito user pool access token (\`token_use: access\`) of this API's app client; locally, \`npm run token -- --seller alice\`. The user's \`cognito:groups\` are its roles: \`${USER_GROUPS.sellers}\` create and manage their own products, \`${USER_GROUPS.reviewers}\` read every product and approve or reject; a user in neither may do nothing, a user in both may do what each allows.`,
          },
        },
      },
    },
    {
      override: ({ jsonSchema, zodSchema, io }) => {
        if (io === "input" && zodSchema === DISCOUNT) jsonSchema.default = DISCOUNT.def.defaultValue;
      },
    },
  );
};

// ---------------------------------------------------------------------------------------------------------
// README examples, checked against the same schemas

/**
 * A marked example in Markdown: an HTML comment on the line right before a ```json fenced block, e.g.
 *   <!-- example: POST /products request -->
 *   <!-- example: POST /products response 201 -->
 *   <!-- example: GET /products query -->
 * The path is written as in the route table (`/products/{id}/review`); a query example is a JSON object of
 * the query parameters, each a string, as they arrive in the URL.
 */
export const EXAMPLE_MARKER =
  /^\s*<!--\s*example:\s*(\S+)\s+(\S+)\s+(request|query|response\s+(\d{3}))\s*-->\s*$/;

export interface MarkedExample {
  /** 1-based line of the marker. */
  line: number;
  method: string;
  path: string;
  part: "request" | "query" | "response";
  status?: number;
  /** The fenced block's text, or undefined when the marker is not followed by a ```json block. */
  json?: string;
}

export const findExamples = (markdown: string): MarkedExample[] => {
  const lines = markdown.split(/\r?\n/);
  const examples: MarkedExample[] = [];
  lines.forEach((text, index) => {
    const match = EXAMPLE_MARKER.exec(text);
    if (!match) return;
    const [, method = "", path = "", partText = "", status] = match;
    const part = partText.startsWith("response") ? "response" : (partText as "request" | "query");
    const example: MarkedExample = { line: index + 1, method, path, part };
    if (status !== undefined) example.status = Number(status);
    if (/^\s*```json\s*$/.test(lines[index + 1] ?? "")) {
      const end = lines.findIndex((candidate, at) => at > index + 1 && /^\s*```\s*$/.test(candidate));
      if (end !== -1) example.json = lines.slice(index + 2, end).join("\n");
    }
    examples.push(example);
  });
  return examples;
};

/** The schema a marked example must match, or why there is none. */
const schemaFor = (example: MarkedExample): z.ZodType | string => {
  const route = ROUTES.find(
    (candidate) => candidate.method === example.method && candidate.path === example.path,
  );
  if (!route) return `${example.method} ${example.path} is not a route of the route table`;
  const contract: RouteContract = ROUTE_CONTRACTS[route.handler];
  if (example.part === "request")
    return contract.request ?? `${example.method} ${example.path} takes no body`;
  if (example.part === "query") {
    return contract.query ?? `${example.method} ${example.path} takes no query parameters`;
  }
  const response = example.status === undefined ? undefined : contract.responses[example.status];
  if (!response) return `${example.method} ${example.path} declares no response ${example.status}`;
  return response.schema ?? `${example.method} ${example.path}'s response ${example.status} has no body`;
};

export interface ExampleCheck {
  examples: MarkedExample[];
  /** One line per problem, naming the example's line; empty when every example matches. */
  problems: string[];
}

/** Finds every marked example in the Markdown and checks each against its route's schema. */
export const checkExamples = (markdown: string): ExampleCheck => {
  const examples = findExamples(markdown);
  const problems = examples.flatMap((example): string[] => {
    const where = `line ${example.line} (${example.method} ${example.path} ${example.part}${example.status ? ` ${example.status}` : ""})`;
    if (example.json === undefined)
      return [`${where}: the marker is not followed by a closed \`\`\`json block`];
    let value: unknown;
    try {
      value = JSON.parse(example.json);
    } catch (error) {
      return [`${where}: not JSON: ${(error as Error).message}`];
    }
    const schema = schemaFor(example);
    if (typeof schema === "string") return [`${where}: ${schema}`];
    if (example.part === "query") {
      if (typeof value !== "object" || value === null || Array.isArray(value)) {
        return [`${where}: a query example must be an object of parameters`];
      }
      const notText = Object.entries(value).filter(([, parameter]) => typeof parameter !== "string");
      if (notText.length > 0) {
        return notText.map(([name]) => `${where}: query parameter ${name} must be a string, as in a URL`);
      }
    }
    const result = schema.safeParse(value);
    if (result.success) return [];
    return result.error.issues.map(
      (issue) => `${where}: ${issue.path.map(String).join(".") || "(body)"}: ${issue.message}`,
    );
  });
  return { examples, problems };
};
