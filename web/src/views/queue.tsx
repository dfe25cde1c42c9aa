import { type FormEvent, useEffect, useRef, useState } from "react";
import type { Api, ProductListItem } from "../api.ts";
import { BulkApprove } from "../bulk-approve.tsx";
import { useChanges, useLive } from "../live.tsx";
import { usePagedProducts } from "../paged.ts";
import { forgetPrefetched, prefetchProduct } from "../prefetch.ts";
import { DecisionToast, KeyHelp, rememberQueue, undoLastDecision, useKeys } from "../review.tsx";
import { Link, navigate } from "../router.tsx";
import { Failed, formatAge, formatTime, Loading, PageHeading } from "../ui.tsx";
import { decisions, useDecisions } from "../undo.ts";
import { MoreButton } from "./gallery.tsx";

export interface QueueFilters {
  category: string;
  seller: string;
  q: string;
}

const PAGE_SIZE = 25;

/**
 * Products waiting for review, longest waiting first, with the API's filters; a decision held for undo (or on
 * its way) leaves its product out meanwhile. Rows can be selected (a checkbox each, `x` on the current row,
 * or all on the page) and approved together (`BulkApprove`).
 */
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
  const { announce } = useLive();
  const held = useDecisions();
  const items = products.items.filter((product) => !decisions.decided(product.id));
  const [selected, setSelected] = useState<ReadonlySet<string>>(new Set());
  /** The selection as it was when Approve selected was pressed: the panel keeps it while the queue changes. */
  const [bulk, setBulk] = useState<ProductListItem[]>();
  const shownSelected = items.filter((product) => selected.has(product.id));
  useChanges({
    changes: (changes) => {
      for (const change of changes) forgetPrefetched(change.product.id);
    },
  });
  // The order the product page's j/k and "next after a decision" follow.
  // biome-ignore lint/correctness/useExhaustiveDependencies: `held` changes which products are left out
  useEffect(() => {
    if (products.first.state === "ready")
      rememberQueue(
        products.items.filter((product) => !decisions.decided(product.id)).map((product) => product.id),
        `${location.pathname}${location.search}`,
      );
  }, [products.first.state, products.items, held]);
  const toggle = (productId: string) =>
    setSelected((current) => {
      const next = new Set(current);
      if (next.has(productId)) next.delete(productId);
      else next.add(productId);
      return next;
    });
  // x: the row that has the focus (its link or its checkbox).
  const toggleCurrent = () => {
    const row = document.activeElement?.closest<HTMLElement>("li.queue-row");
    const productId = row?.dataset.id;
    if (productId) toggle(productId);
  };
  const allOnPage = items.length > 0 && items.every((product) => selected.has(product.id));
  // j/k move between the rows' links (Enter opens one); from nowhere, j takes the first.
  const move = (step: 1 | -1) => {
    const links = [...(list.current?.querySelectorAll<HTMLAnchorElement>("a.row-title") ?? [])];
    if (links.length === 0) return;
    const at = links.findIndex((link) => link === document.activeElement);
    const next =
      at < 0 ? (step === 1 ? 0 : links.length - 1) : Math.min(links.length - 1, Math.max(0, at + step));
    links[next]?.focus();
  };
  useKeys({
    j: () => move(1),
    k: () => move(-1),
    x: toggleCurrent,
    u: () => undoLastDecision(announce),
    "?": () => setHelp(true),
  });
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
      <DecisionToast />
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
      {products.first.state === "ready" && items.length === 0 ? (
        <p className="empty">
          {filtered ? "No product waiting for review matches." : "Nothing waits for review."}
        </p>
      ) : null}
      {bulk ? (
        <BulkApprove
          api={api}
          selected={bulk}
          onClose={() => setBulk(undefined)}
          onApproved={(approved) =>
            setSelected((current) => new Set([...current].filter((each) => !approved.includes(each))))
          }
        />
      ) : null}
      {items.length > 0 ? (
        <div className="bulk-bar">
          <label>
            <input
              type="checkbox"
              checked={allOnPage}
              ref={(box) => {
                if (box) box.indeterminate = !allOnPage && shownSelected.length > 0;
              }}
              onChange={() =>
                setSelected(allOnPage ? new Set() : new Set(items.map((product) => product.id)))
              }
            />
            Select all {items.length} shown
          </label>
          <span aria-live="polite">{shownSelected.length} selected</span>
          <button
            type="button"
            className="primary"
            disabled={shownSelected.length === 0}
            onClick={() => setBulk(shownSelected)}
          >
            Approve selected…
          </button>
        </div>
      ) : null}
      {items.length > 0 ? (
        <ol ref={list} className="queue" aria-label="Products waiting for review, longest waiting first">
          {items.map((product) => (
            <li key={product.id} className="queue-row" data-id={product.id}>
              <span className="row-select">
                <input
                  type="checkbox"
                  aria-label={`Select ${product.title} (${product.sku})`}
                  checked={selected.has(product.id)}
                  onChange={() => toggle(product.id)}
                />
              </span>
              {product.thumbnailUrl ? (
                <img src={product.thumbnailUrl} alt="" loading="lazy" width={96} height={96} />
              ) : (
                <span className="thumb-empty" aria-hidden="true" />
              )}
              <div>
                <Link
                  href={`/product/${product.id}`}
                  className="row-title"
                  onFocus={() => prefetchProduct(api, product.id)}
                >
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
