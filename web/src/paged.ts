import { useCallback, useRef, useState } from "react";
import type { Api, ListQuery, ProductListItem } from "./api.ts";
import { useChanges, useLive } from "./live.tsx";
import { STATUS_LABELS } from "./status.ts";
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

/** Whether a product belongs in the list of `query`, as the API filters it. */
export const matchesQuery = (query: ListQuery, product: ProductListItem): boolean => {
  if (query.status !== undefined && product.status !== query.status) return false;
  if (query.category && product.category !== query.category) return false;
  if (query.seller && product.sellerId !== query.seller) return false;
  if (query.q) {
    const q = query.q.trim().toLowerCase();
    if (!product.sku.toLowerCase().includes(q) && !product.title.toLowerCase().includes(q)) return false;
  }
  return true;
};

/** The list's order (`sort`): negative when `a` comes first. */
const compare = (sort: ListQuery["sort"], a: ProductListItem, b: ProductListItem): number => {
  const [timeA, timeB] =
    sort === "waiting" ? [a.statusChangedAt, b.statusChangedAt] : [a.createdAt, b.createdAt];
  const order = timeA === timeB ? a.id.localeCompare(b.id) : timeA < timeB ? -1 : 1;
  return sort === "newest" || sort === undefined ? -order : order;
};

/** The newer of two copies of a product (a change may arrive after a list that already has it). */
const newer = (a: ProductListItem, b: ProductListItem): ProductListItem =>
  b.updatedAt < a.updatedAt ? a : b;

const statusText = (product: ProductListItem) =>
  `${product.sku} is now ${STATUS_LABELS[product.status].toLowerCase()}`;

interface Loaded {
  key: string;
  items: ProductListItem[];
  cursor: string | null;
}

/**
 * A product list for `query`: its first page (loaded once the changes feed holds a cursor, so no change is
 * missed), the pages after it on request (cursor pagination), and every change the feed brings applied in
 * place: a product updated, one that now matches the query added where the order puts it (unless that is past
 * the pages loaded), one that no longer matches removed. Status changes of the products shown are announced.
 */
export const usePagedProducts = (api: Api, query: ListQuery): PagedProducts => {
  const key = JSON.stringify(query);
  const { feed, announce } = useLive();
  const [loaded, setLoadedState] = useState<Loaded>();
  // The list as last set, so a change is applied to it at once (and what to announce known) outside render.
  const loadedRef = useRef<Loaded>(undefined);
  const setLoaded = useCallback((update: (current: Loaded | undefined) => Loaded | undefined) => {
    loadedRef.current = update(loadedRef.current);
    setLoadedState(loadedRef.current);
  }, []);
  const [loadingMore, setLoadingMore] = useState(false);
  const [moreFailed, setMoreFailed] = useState<string>();
  const [first, reloadFirst] = useResource(key, async () => {
    await feed.ready;
    const page = await api.listProducts(query);
    setLoaded(() => ({ key, items: page.products, cursor: page.nextCursor }));
    return page;
  });

  const own = loaded?.key === key ? loaded : undefined;
  const items = own?.items ?? [];
  const cursor = own?.cursor ?? null;

  useChanges({
    changes: (changes) => {
      const spoken: string[] = [];
      setLoaded((current) => {
        if (current?.key !== key) return current;
        let list = current.items;
        for (const { product } of changes) {
          const index = list.findIndex((item) => item.id === product.id);
          const shown = index >= 0 ? list[index] : undefined;
          const next = shown ? newer(shown, product) : product;
          if (shown && next === shown) continue;
          if (shown) list = list.filter((item) => item.id !== product.id);
          if (!matchesQuery(query, next)) continue;
          const last = list.at(-1);
          // Past the last product loaded, it comes with the next page.
          if (!shown && current.cursor !== null && last && compare(query.sort, next, last) > 0) continue;
          const at = list.findIndex((item) => compare(query.sort, next, item) < 0);
          list = at < 0 ? [...list, next] : [...list.slice(0, at), next, ...list.slice(at)];
          if (shown?.status !== next.status) spoken.push(statusText(next));
        }
        return { ...current, items: list };
      });
      if (spoken.length > 0) announce(`${spoken.join(". ")}.`);
    },
    reset: () => reloadFirst(),
  });

  const more = useCallback(() => {
    if (!cursor) return;
    setLoadingMore(true);
    setMoreFailed(undefined);
    api.listProducts({ ...query, cursor }).then(
      (page) => {
        setLoaded((current) => {
          if (current?.key !== key) return current;
          const known = new Set(current.items.map((item) => item.id));
          return {
            key,
            items: [...current.items, ...page.products.filter((item) => !known.has(item.id))],
            cursor: page.nextCursor,
          };
        });
        setLoadingMore(false);
      },
      (error: unknown) => {
        setMoreFailed(error instanceof Error ? error.message : String(error));
        setLoadingMore(false);
      },
    );
  }, [api, query, key, cursor, setLoaded]);

  const reload = useCallback(() => reloadFirst(), [reloadFirst]);

  return { first, items, hasMore: cursor !== null, loadingMore, moreFailed, more, reload };
};
