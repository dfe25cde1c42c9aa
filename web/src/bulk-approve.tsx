import { type FormEvent, useEffect, useId, useRef, useState } from "react";
import { type Api, ApiError, type ProductListItem, type ProductView, type ReviewItemResult } from "./api.ts";
import { currentVariants } from "./prefetch.ts";
import { STATUS_LABELS } from "./status.ts";
import "./compare.css";

/**
 * The main image bulk approve proposes for a product: its `standard` variant (the marketplace-ready image the
 * engine makes of every photo: square, on white) when it has one that needs no attention; otherwise none,
 * and the reviewer chooses, as on the product page, where nothing is preselected either.
 */
export const proposedMainImage = (product: ProductView): string | undefined =>
  currentVariants(product).find((image) => image.variant === "standard" && !image.needsAttention)?.variant;

type Loaded =
  | { state: "loading" }
  | { state: "failed"; message: string }
  | { state: "ready"; product: ProductView };

type Outcome = { kind: "approved" } | { kind: "conflict"; text: string } | { kind: "error"; text: string };

const outcomeOf = (result: ReviewItemResult): Outcome => {
  if (!result.error) return { kind: "approved" };
  if (result.error.code === "CONFLICT") {
    const now = result.status ? STATUS_LABELS[result.status].toLowerCase() : "decided";
    return { kind: "conflict", text: `not approved: someone decided first (it is ${now})` };
  }
  const detail = result.error.details.map((each) => each.message).join("; ");
  return { kind: "error", text: `not approved: ${result.error.message}${detail ? ` (${detail})` : ""}` };
};

const OUTCOME_LABEL = { approved: "approved", conflict: "conflict", error: "error" } as const;

/**
 * Approves the selected products in one `POST /reviews`, each with its main image: proposed (`standard`) or
 * chosen here, per product. Each product's result is shown in its place: approved, a conflict (another
 * reviewer decided first) or an error. The queue drops the approved ones through the changes feed.
 */
export const BulkApprove = ({
  api,
  selected,
  onClose,
  onApproved,
}: {
  api: Api;
  selected: ProductListItem[];
  onClose: () => void;
  onApproved: (ids: string[]) => void;
}) => {
  const id = useId();
  const heading = useRef<HTMLHeadingElement>(null);
  const [loaded, setLoaded] = useState<Record<string, Loaded>>({});
  const [choices, setChoices] = useState<Record<string, string>>({});
  const [missing, setMissing] = useState<string[]>([]);
  const [sending, setSending] = useState(false);
  const [failure, setFailure] = useState<string>();
  const [results, setResults] = useState<Record<string, Outcome>>();
  const ids = selected.map((product) => product.id).join(",");

  // biome-ignore lint/correctness/useExhaustiveDependencies: `ids` names the selection; a new one loads again
  useEffect(() => {
    heading.current?.focus();
    let current = true;
    setResults(undefined);
    setMissing([]);
    setLoaded(Object.fromEntries(selected.map((product) => [product.id, { state: "loading" } as const])));
    for (const { id: productId } of selected) {
      api.getProduct(productId).then(
        (product) => {
          if (!current) return;
          setLoaded((all) => ({ ...all, [productId]: { state: "ready", product } }));
          setChoices((all) => {
            const proposed = proposedMainImage(product);
            return all[productId] || !proposed ? all : { ...all, [productId]: proposed };
          });
        },
        (error: unknown) => {
          if (current)
            setLoaded((all) => ({
              ...all,
              [productId]: {
                state: "failed",
                message: error instanceof Error ? error.message : String(error),
              },
            }));
        },
      );
    }
    return () => {
      current = false;
    };
  }, [api, ids]);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (sending) return;
    const unchosen = selected.filter((product) => !choices[product.id]).map((product) => product.id);
    setMissing(unchosen);
    if (unchosen.length > 0) {
      document.getElementById(`${id}-main-${unchosen[0]}`)?.focus();
      return;
    }
    setSending(true);
    setFailure(undefined);
    try {
      const { results: answered } = await api.reviewProducts(
        selected.map((product) => ({
          id: product.id,
          decision: "approve" as const,
          mainImage: choices[product.id] ?? "",
        })),
      );
      const byId: Record<string, Outcome> = {};
      for (const [index, result] of answered.entries()) {
        const product = selected[index];
        if (product) byId[product.id] = outcomeOf(result);
      }
      setResults(byId);
      onApproved(
        Object.entries(byId).flatMap(([productId, outcome]) =>
          outcome.kind === "approved" ? [productId] : [],
        ),
      );
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 401))
        setFailure(`Nothing was approved: ${error instanceof Error ? error.message : String(error)}`);
    } finally {
      setSending(false);
    }
  };

  // The main images are chosen among each product's variants: the button waits until all are known.
  const allLoaded = selected.every((product) => loaded[product.id]?.state === "ready");
  const count = (kind: Outcome["kind"]) =>
    Object.values(results ?? {}).filter((outcome) => outcome.kind === kind).length;

  return (
    <section className="bulk-panel" aria-labelledby={`${id}-heading`}>
      <h2 id={`${id}-heading`} ref={heading} tabIndex={-1}>
        Approve {selected.length} selected {selected.length === 1 ? "product" : "products"}
      </h2>
      <p className="muted">
        Each is approved with the main image chosen below: its <strong>standard</strong> variant when it has
        one that needs no attention, otherwise the one you choose. One request; each product is decided on its
        own.
      </p>
      {results ? (
        <p role="status" className="bulk-summary">
          {count("approved")} approved, {count("conflict")} conflict, {count("error")} error.
        </p>
      ) : null}
      {failure ? (
        <div className="notice notice-error" role="alert">
          <p>{failure}</p>
        </div>
      ) : null}
      <form onSubmit={submit}>
        <ul className="bulk-items" aria-label="Selected products">
          {selected.map((item) => {
            const entry = loaded[item.id];
            const result = results?.[item.id];
            const unchosen = missing.includes(item.id) && !choices[item.id];
            return (
              <li key={item.id}>
                {item.thumbnailUrl ? (
                  <img
                    className="bulk-thumb"
                    src={item.thumbnailUrl}
                    alt=""
                    width={64}
                    height={64}
                    loading="lazy"
                  />
                ) : (
                  <span aria-hidden="true" />
                )}
                <div>
                  <p className="bulk-title">
                    <strong>{item.title}</strong> <span className="sku">{item.sku}</span>
                    {result ? (
                      <span className={`bulk-result result-${result.kind}`}>
                        {" "}
                        — {OUTCOME_LABEL[result.kind]}
                        {result.kind === "approved" ? ` with ${choices[item.id]}` : `: ${result.text}`}
                      </span>
                    ) : null}
                  </p>
                  {entry?.state === "failed" ? <p className="field-error">{entry.message}</p> : null}
                  {entry?.state === "loading" ? <p className="muted">Loading its variants…</p> : null}
                  {entry?.state === "ready" && !result ? (
                    <div className="field">
                      <label htmlFor={`${id}-main-${item.id}`}>Main image of {item.sku}</label>
                      <select
                        id={`${id}-main-${item.id}`}
                        value={choices[item.id] ?? ""}
                        aria-invalid={unchosen ? true : undefined}
                        aria-describedby={unchosen ? `${id}-missing-${item.id}` : undefined}
                        onChange={(event) => setChoices((all) => ({ ...all, [item.id]: event.target.value }))}
                      >
                        <option value="">Choose…</option>
                        {currentVariants(entry.product).map((image) => (
                          <option key={image.variant} value={image.variant}>
                            {image.variant}
                            {image.aiGenerated ? " (AI-generated)" : ""}
                            {image.needsAttention ? " (needs attention)" : ""}
                          </option>
                        ))}
                      </select>
                      {unchosen ? (
                        <p id={`${id}-missing-${item.id}`} className="field-error">
                          Choose the main image of {item.sku}: it has no standard variant to propose.
                        </p>
                      ) : null}
                    </div>
                  ) : null}
                </div>
              </li>
            );
          })}
        </ul>
        <div className="head-actions">
          {results ? null : (
            <button type="submit" className="primary" disabled={sending || !allLoaded}>
              {sending ? "Approving…" : `Approve ${selected.length}`}
            </button>
          )}
          <button type="button" onClick={onClose}>
            {results ? "Close" : "Cancel"}
          </button>
        </div>
      </form>
    </section>
  );
};
