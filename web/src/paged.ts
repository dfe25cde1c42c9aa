import { useCallback, useState } from "react";
import type { Api, ListQuery, ProductListItem } from "./api.ts";
import { type Resource, useResource } from "./ui.tsx";

export interface PagedProducts {
  first: Resource<unknown>;
  items: ProductListItem[];
  hasMore: boolean;
  loadingMore: boolean;
  moreFailed: string | undefined;
  more(): void;
  reload(): void;
}

/** The first page of a product list for `query`, and the pages after it on request (cursor pagination). */
export const usePagedProducts = (api: Api, query: ListQuery): PagedProducts => {
  const key = JSON.stringify(query);
  const [extra, setExtra] = useState<{ key: string; items: ProductListItem[]; cursor: string | null }>();
  const [loadingMore, setLoadingMore] = useState(false);
  const [moreFailed, setMoreFailed] = useState<string>();
  const [first, reloadFirst] = useResource(key, () => api.listProducts(query));

  const firstPage = first.state === "ready" ? first.data : undefined;
  const ownExtra = extra?.key === key ? extra : undefined;
  const items = [...(firstPage?.products ?? []), ...(ownExtra?.items ?? [])];
  const cursor = ownExtra ? ownExtra.cursor : (firstPage?.nextCursor ?? null);

  const more = useCallback(() => {
    if (!cursor) return;
    setLoadingMore(true);
    setMoreFailed(undefined);
    api.listProducts({ ...query, cursor }).then(
      (page) => {
        setExtra({ key, items: [...(ownExtra?.items ?? []), ...page.products], cursor: page.nextCursor });
        setLoadingMore(false);
      },
      (error: unknown) => {
        setMoreFailed(error instanceof Error ? error.message : String(error));
        setLoadingMore(false);
      },
    );
  }, [api, query, key, cursor, ownExtra]);

  const reload = useCallback(() => {
    setExtra(undefined);
    reloadFirst();
  }, [reloadFirst]);

  return { first, items, hasMore: cursor !== null, loadingMore, moreFailed, more, reload };
};
