import {
  type CSSProperties,
  type PointerEvent,
  useEffect,
  useId,
  useLayoutEffect,
  useRef,
  useState,
} from "react";
import type { Api, HistoryEntryJson, HistoryPage, ProductView } from "./api.ts";
import { comparePair, currentVariants, takeHistory } from "./prefetch.ts";
import { formatBytes, useResource } from "./ui.tsx";
import "./compare.css";

type Image = ProductView["images"][number];

const ZOOMS = [1, 2, 4] as const;
type Zoom = (typeof ZOOMS)[number];
const BACKDROPS = { white: "White", black: "Black", checkerboard: "Checkerboard" } as const;
type Backdrop = keyof typeof BACKDROPS;
const SCORE_NAMES = ["overall", "sharpness", "exposure", "contrast", "noise", "resolution"] as const;

type Scores = Partial<Record<string, number>>;

const numbersOf = (value: unknown): Scores | undefined => {
  if (typeof value !== "object" || value === null) return undefined;
  return Object.fromEntries(
    Object.entries(value).filter((entry): entry is [string, number] => typeof entry[1] === "number"),
  );
};

interface Compliance {
  profile: string;
  pass: boolean;
  failing: string[];
}

const complianceOf = (value: unknown): Compliance | undefined => {
  if (typeof value !== "object" || value === null) return undefined;
  const { profile, pass, rules } = value as { profile?: unknown; pass?: unknown; rules?: unknown };
  if (typeof profile !== "string") return undefined;
  const failing = Array.isArray(rules)
    ? rules.flatMap((rule) => {
        const { pass: rulePass, detail } = (rule ?? {}) as { pass?: unknown; detail?: unknown };
        return rulePass === false && typeof detail === "string" ? [detail] : [];
      })
    : [];
  return { profile, pass: pass === true, failing };
};

/** What the engine measured of one variant when it made it: its scores after, the original's before. */
interface VariantReport {
  before: Scores | undefined;
  after: Scores | undefined;
  compliance: Compliance | undefined;
}

/**
 * The reports of the current sequence's variants, from their `variant_created` rows (`qualityMetadata`: scores
 * before and after, the profile's compliance). The API keeps them in the history, not on the images.
 */
const reportsOf = (history: HistoryEntryJson[], sequence: number): Map<string, VariantReport> => {
  const reports = new Map<string, VariantReport>();
  for (const entry of history) {
    if (entry.sequence !== sequence || !entry.variant || reports.has(entry.variant)) continue;
    if (typeof entry.qualityMetadata !== "object" || entry.qualityMetadata === null) continue;
    const quality = entry.qualityMetadata as { before?: unknown; after?: unknown; compliance?: unknown };
    if (quality.after === undefined) continue;
    reports.set(entry.variant, {
      before: numbersOf(quality.before),
      after: numbersOf(quality.after),
      compliance: complianceOf(quality.compliance),
    });
  }
  return reports;
};

/** Scores are measured to a tenth: shown so, and their changes too (a change under a tenth is none). */
const formatScore = (value: number): string => (Math.round(value * 10) / 10).toString();
const tenths = (value: number): number => Math.round(value * 10) / 10;

const formatName = (contentType: string) => contentType.replace(/^image\//, "").toUpperCase();

/**
 * The reviewer's comparison of the seller's original with the variants made from it: a slider over the
 * original and one chosen variant (a range input, so arrow keys, Page Up/Down, Home and End move it), zoom
 * (1×, 2×, 4×, panned by scrolling, dragging or the arrow keys in the view), a backdrop (white, black or a
 * checkerboard, to judge a cut-out's edges), every image side by side at the size shown, and the quality
 * scores before and after.
 */
export const Compare = ({ api, product, round }: { api: Api; product: ProductView; round: number }) => {
  const id = useId();
  const [history, reloadHistory] = useResource<HistoryPage>(
    `compare-history:${product.id}`,
    () => takeHistory(product.id) ?? api.getHistory(product.id),
  );
  useEffect(() => {
    if (round > 0) reloadHistory();
  }, [round, reloadHistory]);
  const reports = reportsOf(history.state === "ready" ? history.data.history : [], product.sequence);
  const { original, standIn, choices, after: firstChoice } = comparePair(product);
  const [chosen, setChosen] = useState<string>();
  const after = choices.find((image) => image.variant === chosen) ?? firstChoice;
  const [position, setPosition] = useState(50);
  const [zoom, setZoom] = useState<Zoom>(1);
  const [backdrop, setBackdrop] = useState<Backdrop>("white");
  const view = useRef<HTMLElement>(null);
  const previousZoom = useRef<Zoom>(zoom);
  const drag = useRef<{ x: number; y: number; left: number; top: number }>(undefined);

  // A new zoom keeps the point at the view's centre where it was.
  useLayoutEffect(() => {
    const element = view.current;
    const from = previousZoom.current;
    previousZoom.current = zoom;
    if (!element || from === zoom) return;
    const ratio = zoom / from;
    const centreX = (element.scrollLeft + element.clientWidth / 2) * ratio;
    const centreY = (element.scrollTop + element.clientHeight / 2) * ratio;
    element.scrollLeft = centreX - element.clientWidth / 2;
    element.scrollTop = centreY - element.clientHeight / 2;
  }, [zoom]);

  const variants = currentVariants(product);
  const beforeScores =
    numbersOf((product.analysis?.quality as { scores?: unknown } | null | undefined)?.scores) ??
    [...reports.values()][0]?.before;
  const before = original
    ? {
        url: original.url,
        width: original.width ?? after?.width ?? 1,
        height: original.height ?? after?.height ?? 1,
        label: "the original",
      }
    : standIn
      ? {
          url: standIn.url,
          width: standIn.width,
          height: standIn.height,
          label: `the ${standIn.variant} variant`,
        }
      : undefined;

  const onPointerDown = (event: PointerEvent<HTMLElement>) => {
    const element = view.current;
    if (!element || zoom === 1) return;
    drag.current = { x: event.clientX, y: event.clientY, left: element.scrollLeft, top: element.scrollTop };
    element.setPointerCapture(event.pointerId);
  };
  const onPointerMove = (event: PointerEvent<HTMLElement>) => {
    const element = view.current;
    const start = drag.current;
    if (!element || !start) return;
    element.scrollLeft = start.left - (event.clientX - start.x);
    element.scrollTop = start.top - (event.clientY - start.y);
  };
  const onPointerUp = () => {
    drag.current = undefined;
  };

  return (
    <section aria-labelledby={`${id}-heading`} className="compare">
      <h2 id={`${id}-heading`}>Compare with the original</h2>
      {!product.original ? (
        <p className="notice">
          The original photo is not available: none has been processed yet, or the raw bucket no longer keeps
          it.
          {standIn ? ` The slider compares the ${standIn.variant} variant instead.` : ""}
        </p>
      ) : !original ? (
        <p className="notice">
          The original is a {formatName(product.original.contentType)} file, which browsers cannot show: the
          slider compares the {standIn?.variant ?? "first"} variant (the original's framing, re-encoded)
          instead.{" "}
          <a href={product.original.url} download>
            Download the original ({formatBytes(product.original.bytes)})
          </a>
        </p>
      ) : null}

      {before && after ? (
        <>
          <div className="compare-controls">
            <div className="field">
              <label htmlFor={`${id}-variant`}>Compare {before.label} with</label>
              <select
                id={`${id}-variant`}
                value={after.variant}
                onChange={(event) => setChosen(event.target.value)}
              >
                {choices.map((image) => (
                  <option key={image.variant} value={image.variant}>
                    {image.variant}
                    {image.needsAttention ? " (needs attention)" : ""}
                  </option>
                ))}
              </select>
            </div>
            <fieldset className="segmented">
              <legend>Zoom</legend>
              {ZOOMS.map((level) => (
                <label key={level}>
                  <input
                    type="radio"
                    name={`${id}-zoom`}
                    value={level}
                    checked={zoom === level}
                    onChange={() => setZoom(level)}
                  />
                  {level}×
                </label>
              ))}
            </fieldset>
            <fieldset className="segmented">
              <legend>Backdrop</legend>
              {(Object.keys(BACKDROPS) as Backdrop[]).map((name) => (
                <label key={name}>
                  <input
                    type="radio"
                    name={`${id}-backdrop`}
                    value={name}
                    checked={backdrop === name}
                    onChange={() => setBackdrop(name)}
                  />
                  {BACKDROPS[name]}
                </label>
              ))}
            </fieldset>
          </div>

          <section
            ref={view}
            className={`compare-view backdrop-${backdrop}${zoom > 1 ? " zoomed" : ""}`}
            aria-label={`Comparison at ${zoom}×${zoom > 1 ? ": scroll or use the arrow keys to pan" : ""}`}
            // biome-ignore lint/a11y/noNoninteractiveTabindex: a scrollable view must be focusable, to pan it by keyboard (WCAG 2.1.1)
            tabIndex={0}
            data-zoom={zoom}
            onPointerDown={onPointerDown}
            onPointerMove={onPointerMove}
            onPointerUp={onPointerUp}
            onPointerCancel={onPointerUp}
          >
            <div
              className="compare-stage"
              style={
                {
                  "--zoom": zoom,
                  "--aspect": after.width / after.height,
                  aspectRatio: `${after.width} / ${after.height}`,
                } as CSSProperties
              }
            >
              <img
                className="compare-after"
                src={after.url}
                alt={`${product.title}: the ${after.variant} variant`}
                width={after.width}
                height={after.height}
                loading="lazy"
                draggable={false}
              />
              <img
                className="compare-before"
                src={before.url}
                alt={`${product.title}: ${before.label}, on the left of the divider`}
                width={before.width}
                height={before.height}
                loading="lazy"
                draggable={false}
                style={{ clipPath: `inset(0 ${100 - position}% 0 0)` }}
              />
              <div className="compare-divider" style={{ left: `${position}%` }} aria-hidden="true" />
            </div>
          </section>
          <div className="field compare-range">
            <label htmlFor={`${id}-slider`}>
              Divider: {before.label} on the left, {after.variant} on the right
            </label>
            <input
              id={`${id}-slider`}
              type="range"
              min={0}
              max={100}
              step={1}
              value={position}
              aria-valuetext={`${position}% ${before.label}, ${100 - position}% ${after.variant}`}
              onChange={(event) => setPosition(Number(event.target.value))}
            />
          </div>
        </>
      ) : null}

      <h3>Side by side</h3>
      <ul className={`side-by-side backdrop-${backdrop}`}>
        {product.original ? (
          <li>
            <figure>
              {original ? (
                <img
                  src={original.url}
                  alt={`${product.title}: the original`}
                  loading="lazy"
                  width={original.width ?? undefined}
                  height={original.height ?? undefined}
                />
              ) : (
                <p className="unshowable">
                  A {formatName(product.original.contentType)} file: not shown by browsers
                </p>
              )}
              <figcaption>
                <strong>original</strong> {formatName(product.original.contentType)}
                {product.original.width && product.original.height
                  ? ` · ${product.original.width}×${product.original.height}`
                  : ""}{" "}
                · {formatBytes(product.original.bytes)}
                {beforeScores?.overall !== undefined ? ` · overall ${formatScore(beforeScores.overall)}` : ""}
              </figcaption>
            </figure>
          </li>
        ) : null}
        {variants.map((image) => (
          <VariantFigure
            key={`${image.sequence}-${image.variant}`}
            product={product}
            image={image}
            report={reports.get(image.variant)}
          />
        ))}
      </ul>

      <h3 id={`${id}-scores`}>Quality scores, before and after</h3>
      {history.state === "failed" ? (
        <p className="field-error">The scores could not be loaded: {history.message}</p>
      ) : null}
      {/* biome-ignore lint/a11y/noNoninteractiveTabindex: a scrollable region must be focusable (WCAG 2.1.1) */}
      <section className="table-scroll" aria-labelledby={`${id}-scores`} tabIndex={0}>
        <table className="score-table">
          <caption className="visually-hidden">
            Each score out of 100, of the original and of each variant, with the change from the original
          </caption>
          <thead>
            <tr>
              <th scope="col">Score</th>
              <th scope="col">original</th>
              {variants.map((image) => (
                <th scope="col" key={image.variant}>
                  {image.variant}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {SCORE_NAMES.map((name) => {
              const was = beforeScores?.[name];
              return (
                <tr key={name}>
                  <th scope="row">{name}</th>
                  <td>{was === undefined ? "—" : formatScore(was)}</td>
                  {variants.map((image) => {
                    const now = reports.get(image.variant)?.after?.[name];
                    const change = now !== undefined && was !== undefined ? tenths(now - was) : undefined;
                    return (
                      <td key={image.variant}>
                        {now === undefined ? "—" : formatScore(now)}
                        {change ? (
                          <span className={change > 0 ? "delta delta-up" : "delta delta-down"}>
                            {" "}
                            ({change > 0 ? "+" : "−"}
                            {formatScore(Math.abs(change))})
                          </span>
                        ) : null}
                      </td>
                    );
                  })}
                </tr>
              );
            })}
          </tbody>
        </table>
      </section>
    </section>
  );
};

const VariantFigure = ({
  product,
  image,
  report,
}: {
  product: ProductView;
  image: Image;
  report: VariantReport | undefined;
}) => (
  <li>
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
        <strong>{image.variant}</strong> {image.format.toUpperCase()} · {image.width}×{image.height} ·{" "}
        {formatBytes(image.bytes)}
        {report?.after?.overall !== undefined ? ` · overall ${formatScore(report.after.overall)}` : ""}
        {image.aiGenerated ? <span className="tag">AI-generated</span> : null}
        {image.needsAttention ? <span className="tag tag-warn">needs attention</span> : null}
        {image.needsAttention && image.guardrail?.reasons.length ? (
          <span className="guardrail"> The check found: {image.guardrail.reasons.join("; ")}.</span>
        ) : null}
        {report?.compliance ? (
          <span className="variant-compliance">
            {" "}
            {report.compliance.profile}: {report.compliance.pass ? "passes" : "does not pass"}
            {report.compliance.failing.length > 0 ? ` (${report.compliance.failing.join("; ")})` : ""}
          </span>
        ) : null}
      </figcaption>
    </figure>
  </li>
);
