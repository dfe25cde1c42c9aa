import type { z } from "zod";
import type {
  changesResponseSchema,
  errorBodySchema,
  HistoryEntryJson,
  historyPageSchema,
  ProductListItem,
  ProductView,
  productListSchema,
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
export type { HistoryEntryJson, ProductListItem, ProductView };
export type ProductStatus = ProductListItem["status"];

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
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
  const body = (await response.json().catch(() => undefined)) as ErrorBody | undefined;
  const message = body?.error?.message ?? `the API answered ${response.status}`;
  const code = body?.error?.code ?? "UNKNOWN";
  return response.status === 401
    ? new SignedOutError(401, code, message)
    : new ApiError(response.status, code, message);
};

export interface Api {
  listProducts(query: ListQuery): Promise<ProductList>;
  getProduct(id: string): Promise<ProductView>;
  getHistory(id: string, cursor?: string): Promise<HistoryPage>;
  /** What changed since `since` (a cursor first, without it); `undefined` for a 304: nothing changed. */
  getChanges(since?: string): Promise<ChangesResponse | undefined>;
}

/**
 * The API client. `token` is read on every call; a 401 calls `onSignedOut` (the app returns to the sign-in
 * page with the API's reason) before the call rejects.
 */
export const createApi = (
  config: DashboardConfig,
  token: () => string | undefined,
  onSignedOut: (reason: string) => void,
): Api => {
  const get = async <T>(path: string): Promise<T> => {
    const bearer = token();
    const response = await fetch(`${config.apiUrl}${path}`, {
      headers: { accept: "application/json", ...(bearer ? { authorization: `Bearer ${bearer}` } : {}) },
      cache: "no-store",
    });
    if (response.status === 304) return undefined as T;
    if (!response.ok) {
      const error = await errorOf(response);
      if (error instanceof SignedOutError) onSignedOut(error.message);
      throw error;
    }
    return (await response.json()) as T;
  };
  return {
    listProducts: (query) => get(`/products${queryString(query)}`),
    getProduct: (id) => get(`/products/${encodeURIComponent(id)}`),
    getHistory: (id, cursor) =>
      get(`/products/${encodeURIComponent(id)}/history${queryString({ order: "newest", cursor })}`),
    getChanges: (since) => get(`/changes${queryString({ since })}`),
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
