import { type ReactNode, useEffect, useRef, useState } from "react";
import type { Api, HistoryEntryJson, ProductView } from "../api.ts";
import { ApiError } from "../api.ts";
import { Compare } from "../compare.tsx";
import { useChanges, useLive } from "../live.tsx";
import { forgetPrefetched, prefetchProduct, takeProduct } from "../prefetch.ts";
import {
  type DecisionHandle,
  DecisionPanel,
  DecisionToast,
  decideAndMoveOn,
  forgetFromQueue,
  KeyHelp,
  queueNeighbour,
  undoLastDecision,
  useKeys,
} from "../review.tsx";
import { Link, navigate } from "../router.tsx";
import type { Session } from "../session.ts";
import { STATUS_LABELS } from "../status.ts";
import { Failed, formatBytes, formatTime, Loading, PageHeading, StatusBadge, useResource } from "../ui.tsx";
import { ProductRework } from "./product-rework.tsx";

/** One product: every current image, its status, the analysis in brief, and its history. */
export const ProductPage = ({
  api,
  id,
  session,
  maxUploadBytes,
}: {
  api: Api;
  id: string;
  session: Session;
  /** The API's upload limit (config.json), so a new photo over it is refused before sending. */
  maxUploadBytes: number;
}) => {
  const { feed, announce } = useLive();
  const [product, reload] = useResource(`product:${id}`, async () => {
    await feed.ready;
    // The next product of the queue was loaded while the reviewer looked at the one before.
    return takeProduct(id) ?? api.getProduct(id);
  });
  // A change of this product in the feed loads it again, images and history too; a new status is announced.
  const [round, setRound] = useState(0);
  const shownStatus = product.state === "ready" ? product.data.status : undefined;
  useChanges({
    changes: (changes) => {
      for (const each of changes) {
        forgetPrefetched(each.product.id);
        if (each.product.status !== "pending_review") forgetFromQueue(each.product.id);
      }
      const change = changes.find((each) => each.product.id === id);
      if (!change) return;
      reload();
      setRound((value) => value + 1);
      if (shownStatus && change.product.status !== shownStatus) {
        announce(`${change.product.sku} is now ${STATUS_LABELS[change.product.status].toLowerCase()}.`);
      }
    },
    reset: () => {
      reload();
      setRound((value) => value + 1);
    },
  });
  const back = session.roles.includes("seller")
    ? { href: "/gallery", label: "My products" }
    : { href: "/queue", label: "Review queue" };
  const reviewer = session.roles.includes("reviewer");
  const [help, setHelp] = useState(false);
  const decision = useRef<DecisionHandle>(undefined);
  const go = (step: 1 | -1) => {
    void queueNeighbour(api, id, step).then(
      (other) => {
        if (other) navigate(`/product/${other}`);
        else if (step === 1) navigate("/queue");
      },
      () => {},
    );
  };
  useKeys(
    reviewer
      ? {
          j: () => go(1),
          k: () => go(-1),
          a: () => decision.current?.approveKey(),
          r: () => decision.current?.rejectKey(),
          u: () => undoLastDecision(announce),
          "?": () => setHelp(true),
        }
      : {},
  );
  const canDecide = reviewer && product.state === "ready" && product.data.status === "pending_review";
  // While the reviewer looks at this product, the next one of the queue loads (prefetch.ts).
  useEffect(() => {
    if (!canDecide) return;
    void queueNeighbour(api, id, 1).then(
      (next) => {
        if (next) prefetchProduct(api, next);
      },
      () => {},
    );
  }, [api, id, canDecide]);
  return (
    <>
      <nav aria-label="Breadcrumb" className="breadcrumb">
        <Link href={back.href}>← {back.label}</Link>
        {reviewer ? (
          <button type="button" className="link-button" onClick={() => setHelp(true)}>
            Keyboard shortcuts <kbd>?</kbd>
          </button>
        ) : null}
      </nav>
      {reviewer ? <KeyHelp open={help} onClose={() => setHelp(false)} /> : null}
      {reviewer ? <DecisionToast /> : null}
      {product.state === "loading" ? (
        <>
          <PageHeading title="Product">Product</PageHeading>
          <Loading what="the product" />
        </>
      ) : null}
      {product.state === "failed" ? (
        <>
          <PageHeading title="Product">Product</PageHeading>
          <Failed message={product.message} retry={reload} />
        </>
      ) : null}
      {product.state === "ready" ? (
        <ProductDetail api={api} product={product.data} reload={reload} round={round} reviewer={reviewer}>
          {canDecide ? (
            <DecisionPanel
              product={product.data}
              handle={decision}
              onDecide={(chosen) => decideAndMoveOn(api, product.data, chosen, announce)}
            />
          ) : null}
          <ProductRework api={api} product={product.data} session={session} maxUploadBytes={maxUploadBytes} />
        </ProductDetail>
      ) : null}
    </>
  );
};

const ProductDetail = ({
  api,
  product,
  reload,
  round,
  reviewer,
  children,
}: {
  api: Api;
  product: ProductView;
  reload: () => void;
  round: number;
  /** Reviewers get the comparison with the original (compare.tsx) in place of the plain list of images. */
  reviewer: boolean;
  children?: ReactNode;
}) => (
  <>
    <div className="page-head">
      <PageHeading title={product.title}>{product.title}</PageHeading>
      <button type="button" onClick={reload}>
        Refresh
      </button>
    </div>
    <div className="status-line">
      <StatusBadge status={product.status} />
      {product.statusReason ? <span className="reason">{product.statusReason}</span> : null}
      <span className="muted">since {formatTime(product.statusChangedAt)}</span>
    </div>
    <dl className="facts">
      <div>
        <dt>SKU</dt>
        <dd className="sku">{product.sku}</dd>
      </div>
      <div>
        <dt>Category</dt>
        <dd>{product.category}</dd>
      </div>
      <div>
        <dt>Seller</dt>
        <dd>{product.sellerId}</dd>
      </div>
      <div>
        <dt>Price</dt>
        <dd>
          {product.price} (MRP {product.mrp}, {product.discount}% off, GST {product.gst}%)
        </dd>
      </div>
      <div>
        <dt>Photo sequence</dt>
        <dd>{product.sequence === 0 ? "no photo yet" : product.sequence}</dd>
      </div>
      <div>
        <dt>Main image</dt>
        <dd>{product.mainImage ?? "not chosen"}</dd>
      </div>
    </dl>

    {children}

    {reviewer ? (
      <Compare api={api} product={product} round={round} />
    ) : (
      <section aria-labelledby="images-heading">
        <h2 id="images-heading">Images</h2>
        {product.images.length === 0 ? (
          <p className="empty">No images yet: they appear once the photo is processed.</p>
        ) : (
          <ul className="images">
            {product.images.map((image) => (
              <li key={`${image.sequence}-${image.variant}`}>
                <figure>
                  <a href={image.url} className="image-link">
                    <img
                      src={image.url}
                      alt={`${product.title}: the ${image.variant} variant`}
                      loading="lazy"
                      width={image.width}
                      height={image.height}
                    />
                  </a>
                  <figcaption>
                    <strong>{image.variant}</strong> {image.format.toUpperCase()} · {image.width}×
                    {image.height} · {formatBytes(image.bytes)}
                    {image.aiGenerated ? <span className="tag">AI-generated</span> : null}
                    {image.needsAttention ? <span className="tag tag-warn">needs attention</span> : null}
                  </figcaption>
                </figure>
              </li>
            ))}
          </ul>
        )}
      </section>
    )}

    <Analysis analysis={product.analysis} />

    {product.duplicates.length > 0 ? (
      <section aria-labelledby="duplicates-heading">
        <h2 id="duplicates-heading">Near-duplicates</h2>
        <ul>
          {product.duplicates.map((duplicate) => (
            <li key={`${duplicate.product?.id ?? "hidden"}-${duplicate.detectedAt}`}>
              {duplicate.product ? (
                <Link href={`/product/${duplicate.product.id}`}>
                  {duplicate.product.title} ({duplicate.product.sku})
                </Link>
              ) : (
                "a product in another seller's catalogue"
              )}{" "}
              — pHash distance {duplicate.pHashDistance}, dHash {duplicate.dHashDistance}
            </li>
          ))}
        </ul>
      </section>
    ) : null}

    <History api={api} id={product.id} round={round} />
  </>
);

const SCORE_NAMES = ["overall", "sharpness", "exposure", "contrast", "noise", "resolution"] as const;

/** The quality scores of the analysis, when it carries them (the API types the report as unknown). */
const scoresOf = (quality: unknown): Partial<Record<string, number>> | undefined => {
  if (typeof quality !== "object" || quality === null) return undefined;
  const scores = (quality as { scores?: unknown }).scores;
  if (typeof scores !== "object" || scores === null) return undefined;
  return Object.fromEntries(
    Object.entries(scores).filter((entry): entry is [string, number] => typeof entry[1] === "number"),
  );
};

interface ComplianceSummary {
  profile: string;
  pass: boolean;
  failing: string[];
}

const complianceOf = (compliance: unknown): ComplianceSummary[] => {
  if (typeof compliance !== "object" || compliance === null) return [];
  return Object.entries(compliance).flatMap(([profile, report]) => {
    if (typeof report !== "object" || report === null) return [];
    const { pass, rules } = report as { pass?: unknown; rules?: unknown };
    const failing = Array.isArray(rules)
      ? rules.flatMap((rule) => {
          const { pass: rulePass, detail } = (rule ?? {}) as { pass?: unknown; detail?: unknown };
          return rulePass === false && typeof detail === "string" ? [detail] : [];
        })
      : [];
    return [{ profile, pass: pass === true, failing }];
  });
};

const Analysis = ({ analysis }: { analysis: ProductView["analysis"] }) => {
  const scores = scoresOf(analysis?.quality);
  const compliance = complianceOf(analysis?.compliance);
  return (
    <section aria-labelledby="analysis-heading">
      <h2 id="analysis-heading">Analysis of the photo</h2>
      {!analysis ? (
        <p className="empty">No analysis yet.</p>
      ) : (
        <>
          {analysis.width && analysis.height ? (
            <p>
              The photo is {analysis.width}×{analysis.height} px.
            </p>
          ) : null}
          {scores ? (
            <dl className="scores" aria-label="Quality scores out of 100">
              {SCORE_NAMES.filter((name) => scores[name] !== undefined).map((name) => (
                <div key={name}>
                  <dt>{name}</dt>
                  <dd>
                    <meter
                      min={0}
                      max={100}
                      low={50}
                      high={80}
                      optimum={100}
                      value={scores[name]}
                      aria-hidden="true"
                    />{" "}
                    {scores[name]}
                  </dd>
                </div>
              ))}
            </dl>
          ) : null}
          {compliance.length > 0 ? (
            <>
              <h3>Marketplace compliance</h3>
              <ul className="compliance">
                {compliance.map((report) => (
                  <li key={report.profile}>
                    <strong>{report.profile}</strong>: {report.pass ? "passes" : "does not pass"}
                    {report.failing.length > 0 ? (
                      <ul>
                        {report.failing.map((detail) => (
                          <li key={detail}>{detail}</li>
                        ))}
                      </ul>
                    ) : null}
                  </li>
                ))}
              </ul>
            </>
          ) : null}
          {analysis.ai ? (
            <>
              <h3>Gemini's analysis</h3>
              <p>
                {analysis.ai.product} on {analysis.ai.background}. Suggested title: “
                {analysis.ai.suggestedTitle}”.
                {analysis.ai.problems.length > 0 ? ` Problems: ${analysis.ai.problems.join("; ")}.` : ""}
              </p>
            </>
          ) : null}
        </>
      )}
    </section>
  );
};

const describeEntry = (entry: HistoryEntryJson): string => {
  const parts: string[] = [];
  if (entry.fromStatus || entry.toStatus) parts.push(`${entry.fromStatus ?? "—"} → ${entry.toStatus ?? "—"}`);
  if (entry.variant) parts.push(entry.variant);
  if (entry.mode) parts.push(entry.mode);
  if (entry.outputWidth && entry.outputHeight) parts.push(`${entry.outputWidth}×${entry.outputHeight}`);
  if (entry.outputBytes) parts.push(formatBytes(entry.outputBytes));
  if (entry.processingMs !== null) parts.push(`${entry.processingMs} ms`);
  if (entry.actor) parts.push(`by ${entry.actor}`);
  if (entry.reason) parts.push(`reason: ${entry.reason}`);
  if (entry.error) parts.push(entry.error);
  return parts.join(" · ");
};

/** The history, newest first; loaded again (its first page) whenever `round` changes. */
const History = ({ api, id, round }: { api: Api; id: string; round: number }) => {
  const [first, reload] = useResource(`history:${id}`, () => api.getHistory(id));
  const [more, setMore] = useState<{ entries: HistoryEntryJson[]; cursor: string | null }>();
  useEffect(() => {
    if (round === 0) return;
    setMore(undefined);
    reload();
  }, [round, reload]);
  const [problem, setProblem] = useState<string>();
  const firstPage = first.state === "ready" ? first.data : undefined;
  const entries = [...(firstPage?.history ?? []), ...(more?.entries ?? [])];
  const cursor = more ? more.cursor : (firstPage?.nextCursor ?? null);
  const loadMore = () => {
    if (!cursor) return;
    api.getHistory(id, cursor).then(
      (page) => setMore({ entries: [...(more?.entries ?? []), ...page.history], cursor: page.nextCursor }),
      (error: unknown) => setProblem(error instanceof ApiError ? error.message : String(error)),
    );
  };
  return (
    <section aria-labelledby="history-heading">
      <h2 id="history-heading">History</h2>
      {first.state === "loading" ? <Loading what="the history" /> : null}
      {first.state === "failed" ? <Failed message={first.message} retry={reload} /> : null}
      {firstPage && entries.length === 0 ? <p className="empty">Nothing has happened yet.</p> : null}
      {entries.length > 0 ? (
        // A region the keyboard can reach, so a narrow screen can scroll the table.
        // biome-ignore lint/a11y/noNoninteractiveTabindex: a scrollable region must be focusable (WCAG 2.1.1)
        <section className="table-scroll" aria-label="History table" tabIndex={0}>
          <table>
            <caption className="visually-hidden">The product's history, newest first</caption>
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Event</th>
                <th scope="col">Sequence</th>
                <th scope="col">Details</th>
              </tr>
            </thead>
            <tbody>
              {entries.map((entry) => (
                <tr key={entry.id}>
                  <td>
                    <time dateTime={entry.createdAt}>{formatTime(entry.createdAt)}</time>
                  </td>
                  <td>{entry.event.replace(/_/g, " ")}</td>
                  <td>{entry.sequence ?? "—"}</td>
                  <td>{describeEntry(entry)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      ) : null}
      {problem ? <Failed message={problem} /> : null}
      {cursor ? (
        <p>
          <button type="button" onClick={loadMore}>
            Show older history
          </button>
        </p>
      ) : null}
    </section>
  );
};
