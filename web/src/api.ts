import type { z } from "zod";
import type { createProductsSchema } from "../../lambdas/domain/product-input.ts";
import type { reenhanceRequestSchema } from "../../lambdas/domain/products.ts";
import type {
  ReviewItemResult,
  reviewDecisionSchema,
  reviewItemSchema,
} from "../../lambdas/domain/review.ts";
import type {
  changesResponseSchema,
  createProductsResponseSchema,
  errorBodySchema,
  HistoryEntryJson,
  historyPageSchema,
  ProductListItem,
  ProductView,
  productJsonSchema,
  productListSchema,
  reenhanceAcceptedSchema,
  UploadTicket,
} from "../../lambdas/domain/views.ts";
import {
  type DashboardConfig,
  LOCAL_TOKEN_PATH,
  type LocalTokenRequest,
  type LocalTokenResponse,
} from "./dashboard-config.ts";

/** The API's answers, inferred from the zod schemas the server answers with: never copied by hand. */
export type ProductList = z.output<typeof productListSchema>;
export type HistoryPage = z.output<typeof historyPageSchema>;
export type ErrorBody = z.output<typeof errorBodySchema>;
export type ChangesResponse = z.output<typeof changesResponseSchema>;
export type ProductChange = ChangesResponse["changes"][number];
export type { HistoryEntryJson, ProductListItem, ProductView, UploadTicket };
/** What `POST /products` takes (before its defaults apply) and answers. */
export type CreateProductsRequest = z.input<typeof createProductsSchema>;
export type NewProductInput = CreateProductsRequest["products"][number];
export type UploadContentType = NewProductInput["contentType"];
export type CreateProductsResponse = z.output<typeof createProductsResponseSchema>;
export type CreatedProduct = CreateProductsResponse["products"][number];
export type ProductStatus = ProductListItem["status"];
/** What `POST /products/{id}/review` takes (a type import: nothing of the server reaches the bundle). */
export type ReviewDecision = z.input<typeof reviewDecisionSchema>;
export type ProductJson = z.output<typeof productJsonSchema>;
/** What `POST /products/{id}/enhance` takes (before its defaults apply) and answers. */
export type ReenhanceRequest = z.input<typeof reenhanceRequestSchema>;
export type ReenhanceAccepted = z.output<typeof reenhanceAcceptedSchema>;
/** One decision of `POST /reviews`, naming its product, and what each one came to. */
export type ReviewItem = z.input<typeof reviewItemSchema>;
export type { ReviewItemResult };

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  /** A 400's problems, each naming its field (`products[3].price`). */
  readonly details: ErrorBody["error"]["details"];
  /** A review's 409: the product as the decision that came first left it. */
  readonly product: ProductJson | undefined;
  constructor(
    status: number,
    code: string,
    message: string,
    details: ErrorBody["error"]["details"] = [],
    product: ProductJson | undefined = undefined,
  ) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
    this.product = product;
  }
}

/** A 401: the token expired or was refused. The app has already gone back to the sign-in page. */
export class SignedOutError extends ApiError {}

export interface ListQuery {
  status?: ProductStatus | undefined;
  category?: string | undefined;
  seller?: string | undefined;
  q?: string | undefined;
  sort?: "newest" | "oldest" | "waiting";
  limit?: number;
  cursor?: string | undefined;
}

const queryString = (query: object): string => {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value !== undefined && value !== "") params.set(name, String(value));
  }
  const text = params.toString();
  return text ? `?${text}` : "";
};

const errorOf = async (response: Response): Promise<ApiError> => {
  const body = (await response.json().catch(() => undefined)) as
    | (ErrorBody & { product?: ProductJson })
    | undefined;
  const message = body?.error?.message ?? `the API answered ${response.status}`;
  const code = body?.error?.code ?? "UNKNOWN";
  return response.status === 401
    ? new SignedOutError(401, code, message)
    : new ApiError(response.status, code, message, body?.error?.details ?? [], body?.product);
};

export interface Api {
  listProducts(query: ListQuery): Promise<ProductList>;
  getProduct(id: string): Promise<ProductView>;
  getHistory(id: string, cursor?: string): Promise<HistoryPage>;
  /** What changed since `since` (a cursor first, without it); `undefined` for a 304: nothing changed. */
  getChanges(since?: string): Promise<ChangesResponse | undefined>;
  /** One bulk `POST /products` (at most `MAX_PRODUCTS_PER_REQUEST`). */
  createProducts(request: CreateProductsRequest): Promise<CreateProductsResponse>;
  /** A fresh presigned POST for the product's photo. */
  createUpload(id: string, contentType: UploadContentType): Promise<{ upload: UploadTicket }>;
  /** A reviewer's decision; a 409 carries the product as the first decision left it (`ApiError.product`). */
  reviewProduct(id: string, decision: ReviewDecision): Promise<ProductJson>;
  /** The seller's re-enhancement of the latest original as a new sequence (202: queued). */
  reenhanceProduct(id: string, request: ReenhanceRequest): Promise<ReenhanceAccepted>;
  /**
   * The same decision sent with `keepalive`, so it still reaches the API when the tab is closed while it is
   * on its way (a decision held for undo is sent so on `pagehide`). No token renewal: a 401 rejects.
   */
  reviewProductKeepalive(id: string, decision: ReviewDecision): Promise<ProductJson>;
  /** One `POST /reviews` (at most 100 decisions), each applied on its own and answered in its place. */
  reviewProducts(reviews: ReviewItem[]): Promise<{ results: ReviewItemResult[] }>;
}

/**
 * The API client. `token` is read on every call; a 401 first asks `renew` for a new token (Cognito's refresh
 * token) and, given one, sends the call again once; otherwise it calls `onSignedOut` (the app returns to the
 * sign-in page with the API's reason) before the call rejects.
 */
export const createApi = (
  config: DashboardConfig,
  token: () => string | undefined,
  onSignedOut: (reason: string) => void,
  renew?: () => Promise<boolean>,
): Api => {
  const call = async <T>(path: string, body?: unknown): Promise<T> => {
    let response = await send(path, body);
    if (response.status === 401 && renew && (await renew())) response = await send(path, body);
    if (response.status === 304) return undefined as T;
    if (!response.ok) {
      const error = await errorOf(response);
      if (error instanceof SignedOutError) onSignedOut(error.message);
      throw error;
    }
    return (await response.json()) as T;
  };
  const send = (path: string, body: unknown): Promise<Response> => {
    const bearer = token();
    return fetch(`${config.apiUrl}${path}`, {
      headers: {
        accept: "application/json",
        ...(body === undefined ? {} : { "content-type": "application/json" }),
        ...(bearer ? { authorization: `Bearer ${bearer}` } : {}),
      },
      cache: "no-store",
      ...(body === undefined ? {} : { method: "POST", body: JSON.stringify(body) }),
    });
  };
  const get = <T>(path: string): Promise<T> => call<T>(path);
  return {
    listProducts: (query) => get(`/products${queryString(query)}`),
    getProduct: (id) => get(`/products/${encodeURIComponent(id)}`),
    getHistory: (id, cursor) =>
      get(`/products/${encodeURIComponent(id)}/history${queryString({ order: "newest", cursor })}`),
    getChanges: (since) => get(`/changes${queryString({ since })}`),
    createProducts: (request) => call("/products", request),
    createUpload: (id, contentType) => call(`/products/${encodeURIComponent(id)}/uploads`, { contentType }),
    reviewProduct: (id, decision) => call(`/products/${encodeURIComponent(id)}/review`, decision),
    reenhanceProduct: (id, request) => call(`/products/${encodeURIComponent(id)}/enhance`, request),
    reviewProductKeepalive: async (id, decision) => {
      const bearer = token();
      const response = await fetch(`${config.apiUrl}/products/${encodeURIComponent(id)}/review`, {
        method: "POST",
        keepalive: true,
        headers: {
          accept: "application/json",
          "content-type": "application/json",
          ...(bearer ? { authorization: `Bearer ${bearer}` } : {}),
        },
        body: JSON.stringify(decision),
      });
      if (!response.ok) throw await errorOf(response);
      return (await response.json()) as ProductJson;
    },
    reviewProducts: (reviews) => call("/reviews", { reviews }),
  };
};

/** The local stack's development sign-in: a token of its own key for this name and role. */
export const requestLocalToken = async (
  config: DashboardConfig,
  request: LocalTokenRequest,
): Promise<LocalTokenResponse> => {
  const response = await fetch(`${config.apiUrl}${LOCAL_TOKEN_PATH}`, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json" },
    body: JSON.stringify(request),
  });
  if (!response.ok) throw await errorOf(response);
  return (await response.json()) as LocalTokenResponse;
};
