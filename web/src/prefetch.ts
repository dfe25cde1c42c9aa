import type { Api, HistoryPage, ProductView } from "./api.ts";

/**
 * The next product, loaded while the reviewer looks at the current one: its JSON, its history's first page
 * (the variants' scores) and the images the comparison opens with, so that after a decision the next product
 * shows at once. An entry is used once, and only while fresh: an older one (or one whose product changed, as
 * the changes feed tells) is loaded again.
 */
const FRESH_MS = 30_000;

interface Prefetched {
  at: number;
  /** Each is taken once, by the page and by its comparison. */
  product: Promise<ProductView> | undefined;
  history: Promise<HistoryPage> | undefined;
}

const cache = new Map<string, Prefetched>();

/** Types a browser shows in an `<img>`; TIFF is not one of them. */
export const SHOWABLE_TYPES = new Set(["image/jpeg", "image/png", "image/webp", "image/avif", "image/gif"]);

/** The variants of the product's current sequence (all of them when that sequence has none yet). */
export const currentVariants = (product: ProductView): ProductView["images"] => {
  const current = product.images.filter((image) => image.sequence === product.sequence);
  return current.length > 0 ? current : product.images;
};

/**
 * What the comparison opens with: the original when a browser can show it, else the `web` variant (OPTIMIZE:
 * the original's framing, re-encoded); against `standard` when there is one, else the first other variant.
 */
export const comparePair = (product: ProductView) => {
  const variants = currentVariants(product).filter((image) => image.variant !== "thumb");
  const original =
    product.original && SHOWABLE_TYPES.has(product.original.contentType) ? product.original : undefined;
  const standIn = original ? undefined : (variants.find((image) => image.variant === "web") ?? variants[0]);
  const choices = variants.filter((image) => image !== standIn);
  const after = choices.find((image) => image.variant === "standard") ?? choices[0];
  return { original, standIn, choices, after };
};

const preload = (url: string) => {
  const image = new Image();
  image.decoding = "async";
  image.src = url;
};

export const prefetchProduct = (api: Api, id: string): void => {
  const known = cache.get(id);
  if (known?.product && Date.now() - known.at < FRESH_MS) return;
  const product = api.getProduct(id);
  const history = api.getHistory(id);
  cache.set(id, { at: Date.now(), product, history });
  // A failed prefetch is forgotten: the page asks again when it opens, and says what went wrong then.
  product.then(
    (view) => {
      const { original, standIn, after } = comparePair(view);
      for (const url of [original?.url ?? standIn?.url, after?.url]) if (url) preload(url);
    },
    () => cache.delete(id),
  );
  history.catch(() => cache.delete(id));
};

const take = <K extends "product" | "history">(id: string, part: K): Prefetched[K] => {
  const entry = cache.get(id);
  if (!entry) return undefined;
  if (Date.now() - entry.at >= FRESH_MS) {
    cache.delete(id);
    return undefined;
  }
  const taken = entry[part];
  entry[part] = undefined;
  if (!entry.product && !entry.history) cache.delete(id);
  return taken;
};

/** The prefetched product, once, if it is fresh. */
export const takeProduct = (id: string): Promise<ProductView> | undefined => take(id, "product");

/** The prefetched history's first page, once, if it is fresh. */
export const takeHistory = (id: string): Promise<HistoryPage> | undefined => take(id, "history");

/** The product changed: what was prefetched of it is out of date. */
export const forgetPrefetched = (id: string): void => {
  cache.delete(id);
};
