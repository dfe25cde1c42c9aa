import { type FormEvent, useEffect, useRef, useState } from "react";
import type { Api } from "../api.ts";
import { usePagedProducts } from "../paged.ts";
import { KeyHelp, rememberQueue, useKeys } from "../review.tsx";
import { Link, navigate } from "../router.tsx";
import { Failed, formatAge, formatTime, Loading, PageHeading } from "../ui.tsx";
import { MoreButton } from "./gallery.tsx";

export interface QueueFilters {
  category: string;
  seller: string;
  q: string;
}

const PAGE_SIZE = 25;

/** Products waiting for review, longest waiting first, with the API's filters. */
export const Queue = ({ api, filters }: { api: Api; filters: QueueFilters }) => {
  const products = usePagedProducts(api, {
    status: "pending_review",
    sort: "waiting",
    limit: PAGE_SIZE,
    category: filters.category,
    seller: filters.seller,
    q: filters.q,
  });
  const [draft, setDraft] = useState(filters);
  const [help, setHelp] = useState(false);
  const list = useRef<HTMLOListElement>(null);
  // The order the product page's j/k and "next after a decision" follow.
  useEffect(() => {
    if (products.first.state === "ready")
      rememberQueue(
        products.items.map((product) => product.id),
        `${location.pathname}${location.search}`,
      );
  }, [products.first.state, products.items]);
  // j/k move between the rows' links (Enter opens one); from nowhere, j takes the first.
  const move = (step: 1 | -1) => {
    const links = [...(list.current?.querySelectorAll<HTMLAnchorElement>("a.row-title") ?? [])];
    if (links.length === 0) return;
    const at = links.findIndex((link) => link === document.activeElement);
    const next =
      at < 0 ? (step === 1 ? 0 : links.length - 1) : Math.min(links.length - 1, Math.max(0, at + step));
    links[next]?.focus();
  };
  useKeys({ j: () => move(1), k: () => move(-1), "?": () => setHelp(true) });
  const filtered = Boolean(filters.category || filters.seller || filters.q);

  const apply = (event: FormEvent) => {
    event.preventDefault();
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(draft)) if (value.trim()) params.set(name, value.trim());
    const query = params.toString();
    navigate(query ? `/queue?${query}` : "/queue");
  };

  return (
    <>
      <div className="page-head">
        <PageHeading title="Review queue">Review queue</PageHeading>
        <div className="head-actions">
          <button type="button" onClick={() => setHelp(true)}>
            Keyboard shortcuts <kbd>?</kbd>
          </button>
          <button type="button" onClick={products.reload}>
            Refresh
          </button>
        </div>
      </div>
      <KeyHelp open={help} onClose={() => setHelp(false)} />
      <search aria-label="Filter the queue">
        <form className="filter-form" onSubmit={apply}>
          <div className="field">
            <label htmlFor="queue-q">Search sku or title</label>
            <input
              id="queue-q"
              type="search"
              value={draft.q}
              maxLength={100}
              onChange={(event) => setDraft({ ...draft, q: event.target.value })}
            />
          </div>
          <div className="field">
            <label htmlFor="queue-category">Category</label>
            <input
              id="queue-category"
              value={draft.category}
              onChange={(event) => setDraft({ ...draft, category: event.target.value })}
            />
          </div>
          <div className="field">
            <label htmlFor="queue-seller">Seller</label>
            <input
              id="queue-seller"
              value={draft.seller}
              autoCapitalize="none"
              spellCheck={false}
              onChange={(event) => setDraft({ ...draft, seller: event.target.value })}
            />
          </div>
          <div className="filter-actions">
            <button type="submit" className="primary">
              Filter
            </button>
            {filtered ? (
              <Link href="/queue" onClick={() => setDraft({ category: "", seller: "", q: "" })}>
                Clear filters
              </Link>
            ) : null}
          </div>
        </form>
      </search>
      {products.first.state === "loading" ? <Loading what="the queue" /> : null}
      {products.first.state === "failed" ? (
        <Failed message={products.first.message} retry={products.reload} />
      ) : null}
      {products.first.state === "ready" && products.items.length === 0 ? (
        <p className="empty">
          {filtered ? "No product waiting for review matches." : "Nothing waits for review."}
        </p>
      ) : null}
      {products.items.length > 0 ? (
        <ol ref={list} className="queue" aria-label="Products waiting for review, longest waiting first">
          {products.items.map((product) => (
            <li key={product.id} className="queue-row">
              {product.thumbnailUrl ? (
                <img src={product.thumbnailUrl} alt="" loading="lazy" width={96} height={96} />
              ) : (
                <span className="thumb-empty" aria-hidden="true" />
              )}
              <div>
                <Link href={`/product/${product.id}`} className="row-title">
                  {product.title}
                </Link>
                <p className="meta">
                  <span className="sku">{product.sku}</span> · seller {product.sellerId} · {product.category}
                </p>
              </div>
              <p className="waiting">
                in review{" "}
                <time dateTime={product.statusChangedAt} title={formatTime(product.statusChangedAt)}>
                  {formatAge(product.statusChangedAt)}
                </time>
              </p>
            </li>
          ))}
        </ol>
      ) : null}
      <MoreButton products={products} />
    </>
  );
};
