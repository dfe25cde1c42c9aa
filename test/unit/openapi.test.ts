import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  checkExamples,
  findExamples,
  openApiDocument,
  openApiObjectSchema,
  ROUTE_CONTRACTS,
} from "../../lambdas/handlers/http/openapi-document.ts";
import { ROUTES, USER_GROUPS } from "../../lambdas/names.ts";

type Json = Record<string, unknown>;

const document = JSON.parse(JSON.stringify(openApiDocument())) as Json;
const paths = document.paths as Record<string, Record<string, Json>>;
const METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

/** `#/components/schemas/Error` → the value it points at in the document, or undefined. */
const resolvePointer = (ref: string): unknown => {
  if (!ref.startsWith("#/")) return undefined;
  return ref
    .slice(2)
    .split("/")
    .map((part) => part.replace(/~1/g, "/").replace(/~0/g, "~"))
    .reduce<unknown>(
      (node, part) =>
        typeof node === "object" && node !== null && Object.hasOwn(node, part)
          ? (node as Json)[part]
          : undefined,
      document,
    );
};

const deref = (value: unknown): Json => {
  const ref = (value as Json).$ref;
  return (typeof ref === "string" ? resolvePointer(ref) : value) as Json;
};

const refsIn = (value: unknown): string[] => {
  if (Array.isArray(value)) return value.flatMap(refsIn);
  if (typeof value !== "object" || value === null) return [];
  return Object.entries(value).flatMap(([key, inner]) =>
    key === "$ref" && typeof inner === "string" ? [inner] : refsIn(inner),
  );
};

const operationOf = (route: (typeof ROUTES)[number]): Json | undefined =>
  paths[route.path]?.[route.method.toLowerCase()];

const jsonSchemaOf = (response: Json): Json | undefined =>
  ((response.content as Json | undefined)?.["application/json"] as Json | undefined)?.schema as
    | Json
    | undefined;

describe("the OpenAPI document", () => {
  it("is OpenAPI 3.1.0 and plain JSON (no functions, no undefined, nothing lost in serialising)", () => {
    const built = openApiDocument();
    expect(JSON.parse(JSON.stringify(built))).toEqual(built);
    expect(document.openapi).toBe("3.1.0");
    expect((document.info as Json).title).toEqual(expect.any(String));
    expect((document.info as Json).version).toEqual(expect.any(String));
    expect((document.info as Json).description).toContain("npm run token -- --seller alice");
    // What GET /openapi.json declares it answers.
    expect(openApiObjectSchema.safeParse(built).success).toBe(true);
  });

  it("has an operation for every route of the route table, and only those", () => {
    for (const route of ROUTES) {
      const operation = operationOf(route);
      expect(operation, `${route.method} ${route.path}`).toBeDefined();
      expect(operation?.operationId).toBe(route.handler);
      expect(operation?.summary, route.handler).toEqual(expect.any(String));
      expect(operation?.description, route.handler).toEqual(expect.any(String));
    }
    const documented = Object.entries(paths).flatMap(([path, item]) =>
      Object.keys(item)
        .filter((key) => METHODS.includes(key))
        .map((method) => `${method.toUpperCase()} ${path}`),
    );
    expect(documented.sort()).toEqual(ROUTES.map((route) => `${route.method} ${route.path}`).sort());
    expect(Object.keys(ROUTE_CONTRACTS).sort()).toEqual(ROUTES.map((route) => route.handler).sort());
  });

  it("requires the bearer scheme on signed-in routes and nothing on public ones", () => {
    const scheme = (document.components as Json).securitySchemes as Record<string, Json>;
    expect(scheme.bearer).toMatchObject({ type: "http", scheme: "bearer", bearerFormat: "JWT" });
    expect(scheme.bearer?.description).toContain(USER_GROUPS.sellers);
    expect(scheme.bearer?.description).toContain(USER_GROUPS.reviewers);
    for (const route of ROUTES) {
      const security = operationOf(route)?.security;
      if (route.access === "signed-in") expect(security, route.handler).toEqual([{ bearer: [] }]);
      else expect(security, route.handler).toEqual([]);
    }
  });

  it("resolves every $ref to a component that exists", () => {
    const refs = refsIn(document);
    expect(refs.length).toBeGreaterThan(0);
    for (const ref of refs) {
      expect(ref, ref).toMatch(/^#\/components\/(schemas|responses|parameters|headers|requestBodies)\//);
      expect(resolvePointer(ref), ref).toBeDefined();
    }
  });

  it("declares each route's path parameters, query parameters and body as its contract says", () => {
    for (const route of ROUTES) {
      const operation = operationOf(route) as Json;
      const contract = ROUTE_CONTRACTS[route.handler];
      const parameters = ((operation.parameters ?? []) as Json[]).map(deref);
      const pathNames = [...route.path.matchAll(/\{(\w+)\}/g)].map((match) => match[1]);
      const pathParameters = parameters.filter((parameter) => parameter.in === "path");
      expect(pathParameters.map((parameter) => parameter.name).sort(), route.handler).toEqual(
        pathNames.sort(),
      );
      for (const parameter of pathParameters) {
        expect(parameter.required, route.handler).toBe(true);
        expect((parameter.schema as Json).format, route.handler).toBe("uuid");
      }
      const queryNames = parameters.filter((parameter) => parameter.in === "query").map((p) => p.name);
      expect(queryNames.sort(), route.handler).toEqual(Object.keys(contract.query?.shape ?? {}).sort());
      const body = operation.requestBody as Json | undefined;
      expect(body !== undefined, route.handler).toBe(contract.request !== undefined);
      if (body) {
        expect(body.required, route.handler).toBe(true);
        expect(jsonSchemaOf(body), route.handler).toBeDefined();
      }
    }
  });

  it("declares every response of the contract, with the Error schema for errors", () => {
    for (const route of ROUTES) {
      const operation = operationOf(route) as Json;
      const contract = ROUTE_CONTRACTS[route.handler];
      const responses = operation.responses as Record<string, Json>;
      expect(Object.keys(responses).sort(), route.handler).toEqual(Object.keys(contract.responses).sort());
      for (const [status, given] of Object.entries(responses)) {
        const response = deref(given);
        expect(response.description, `${route.handler} ${status}`).toEqual(expect.any(String));
        const schema = jsonSchemaOf(response);
        // A response without a body (GET /changes' 304) declares no content at all.
        if (contract.responses[Number(status)]?.schema === undefined) {
          expect(response.content, `${route.handler} ${status}`).toBeUndefined();
          continue;
        }
        expect(schema, `${route.handler} ${status}`).toBeDefined();
        const isReviewConflict = route.handler === "review-product" && status === "409";
        if (Number(status) >= 400 && !isReviewConflict && status !== "503") {
          expect(schema, `${route.handler} ${status}`).toEqual({ $ref: "#/components/schemas/Error" });
        }
      }
      expect(responses["500"], route.handler).toBeDefined();
      if (route.access === "signed-in") {
        const unauthorized = deref(responses["401"]);
        expect(unauthorized.headers, route.handler).toHaveProperty("www-authenticate");
      }
      if (contract.request) {
        for (const status of ["400", "413", "415"])
          expect(responses[status], `${route.handler} ${status}`).toBeDefined();
        expect(deref(responses["400"]).description).toContain("MALFORMED_JSON");
      }
    }
    const conflict = jsonSchemaOf(
      deref(paths["/products/{id}/review"]?.post?.responses as Json)["409"] as Json,
    );
    expect(conflict).toEqual({ $ref: "#/components/schemas/ReviewConflict" });
  });

  it("describes requests as input: the money fields take a string or a number, the discount has a default", () => {
    const body = jsonSchemaOf(paths["/products"]?.post?.requestBody as Json) as Json;
    const item = ((body.properties as Json).products as Json).items as Json;
    const fields = item.properties as Record<string, Json>;
    for (const field of ["mrp", "price", "gst", "discount"]) {
      expect(fields[field]?.type, field).toEqual(["string", "number"]);
    }
    expect(fields.discount?.default).toBe("0.00");
    expect(item.required).not.toContain("discount");
  });

  it("describes a bulk review item as one closed decision per branch, each naming its product", () => {
    const item = resolvePointer("#/components/schemas/ReviewItem") as Json;
    // Each branch is a whole item: a closed branch without `id` could match no valid item.
    for (const branch of item.oneOf as Json[]) {
      expect(branch.additionalProperties).toBe(false);
      expect(branch.required).toEqual(expect.arrayContaining(["id", "decision"]));
      expect(Object.keys(branch.properties as Json)).toContain("id");
    }
    // The single decision is closed too, as its handler refuses unknown fields.
    const single = jsonSchemaOf(paths["/products/{id}/review"]?.post?.requestBody as Json) as Json;
    for (const branch of single.oneOf as Json[]) expect(branch.additionalProperties).toBe(false);
  });
});

const product = {
  id: "3f0c1c9e-8d4a-4c55-9b8e-2f1d7c7a0b42",
  sellerId: "alice",
  sku: "MUG-001",
  title: "Stoneware mug",
  category: "kitchen",
  mrp: "120.00",
  price: "99.00",
  discount: "0.00",
  gst: "18.00",
  status: "approved",
  statusReason: null,
  statusChangedAt: "2026-12-02T09:30:00.000Z",
  mainImage: "web",
  sequence: 1,
  createdAt: "2026-12-02T09:00:00.000Z",
  updatedAt: "2026-12-02T09:30:00.000Z",
};

const block = (marker: string, value: unknown) =>
  `<!-- example: ${marker} -->\n\`\`\`json\n${JSON.stringify(value, null, 2)}\n\`\`\`\n`;

const good = [
  "# Some API\n",
  block("POST /products request", {
    products: [
      {
        sku: "MUG-001",
        title: "Stoneware mug",
        category: "kitchen",
        mrp: 120,
        price: "99.00",
        gst: "18",
        contentType: "image/jpeg",
      },
    ],
  }),
  "Some prose between.\n",
  block("GET /products query", { status: "pending_review", sort: "waiting", limit: "20" }),
  block("POST /products/{id}/review request", { decision: "reject", reason: "the photo is blurred" }),
  block("POST /products/{id}/review response 409", {
    error: { code: "CONFLICT", message: "product is approved", details: [] },
    product,
  }),
  block("POST /products response 400", {
    error: {
      code: "VALIDATION_FAILED",
      message: "the request has 1 invalid field(s)",
      details: [{ path: "products[0].price", message: "must not exceed mrp (120.00)" }],
    },
  }),
  block("POST /reviews request", { reviews: [{ id: product.id, decision: "approve", mainImage: "web" }] }),
].join("\n");

describe("the README example checker", () => {
  it("finds every marked example and accepts ones that match their schemas", () => {
    const { examples, problems } = checkExamples(good);
    expect(problems).toEqual([]);
    expect(
      examples.map((example) =>
        `${example.method} ${example.path} ${example.part} ${example.status ?? ""}`.trim(),
      ),
    ).toEqual([
      "POST /products request",
      "GET /products query",
      "POST /products/{id}/review request",
      "POST /products/{id}/review response 409",
      "POST /products response 400",
      "POST /reviews request",
    ]);
  });

  it("fails an example that does not match its schema, naming its line and field", () => {
    const broken = good.replace('"price": "99.00"', '"price": "ninety-nine"');
    expect(broken).not.toBe(good);
    const { problems } = checkExamples(broken);
    expect(problems).toHaveLength(1);
    const line = findExamples(broken)[0]?.line;
    expect(problems[0]).toContain(`line ${line} (POST /products request)`);
    expect(problems[0]).toContain("products.0.price");
  });

  it("fails a 409 example that lacks the product", () => {
    const { problems } = checkExamples(
      block("POST /products/{id}/review response 409", {
        error: { code: "CONFLICT", message: "x", details: [] },
      }),
    );
    expect(problems).toEqual([expect.stringContaining("product")]);
  });

  it("fails examples of unknown routes, undeclared parts and statuses, bad JSON and missing blocks", () => {
    const problems = (markdown: string) => checkExamples(markdown).problems;
    expect(problems(block("DELETE /products request", {}))).toEqual([expect.stringContaining("not a route")]);
    expect(problems(block("GET /products/{id} request", {}))).toEqual([
      expect.stringContaining("takes no body"),
    ]);
    expect(problems(block("POST /products query", {}))).toEqual([
      expect.stringContaining("no query parameters"),
    ]);
    expect(problems(block("GET /health response 418", {}))).toEqual([
      expect.stringContaining("no response 418"),
    ]);
    expect(problems("<!-- example: GET /health response 200 -->\n```json\n{ not json\n```\n")).toEqual([
      expect.stringContaining("not JSON"),
    ]);
    expect(problems("<!-- example: GET /health response 200 -->\n\n```json\n{}\n```\n")).toEqual([
      expect.stringContaining("not followed by"),
    ]);
    expect(problems(block("GET /products query", { limit: 20 }))).toEqual([
      expect.stringContaining("limit must be a string"),
    ]);
    expect(problems(block("GET /products query", { colour: "red" }))).toHaveLength(1);
  });
});

describe("the README's examples", () => {
  const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");

  it("has at least 5 marked examples, and each matches its route's schema", () => {
    const { examples, problems } = checkExamples(readme);
    expect(problems).toEqual([]);
    expect(examples.length).toBeGreaterThanOrEqual(5);
  });
});
