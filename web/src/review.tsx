import { type FormEvent, useEffect, useId, useRef, useState } from "react";
import type { Api, ProductJson, ProductView, ReviewDecision } from "./api.ts";
import { useLive } from "./live.tsx";
import { Link, navigate } from "./router.tsx";
import { STATUS_LABELS } from "./status.ts";
import { formatTime } from "./ui.tsx";
import { type DecisionOutcome, decisions, describeDecision, UNDO_WINDOW_MS, useDecisions } from "./undo.ts";

/**
 * The queue's order as the reviewer last saw it (ids, longest waiting first), kept for the tab's life so
 * `j`/`k` and "next after a decision" work on the product page. A product page opened without it asks the
 * API for the queue's first page.
 */
let queueOrder: string[] | undefined;
/** The queue's address with its filters, where the reviewer returns when no product is left. */
let queueHref = "/queue";

export const rememberQueue = (ids: string[], href: string): void => {
  queueOrder = ids;
  queueHref = href;
};

/** Where the product was in the queue's order, for `u` to put it back there. */
const forgotten = new Map<string, number>();

export const forgetFromQueue = (id: string): void => {
  const at = queueOrder?.indexOf(id) ?? -1;
  if (at >= 0) forgotten.set(id, at);
  if (queueOrder) queueOrder = queueOrder.filter((each) => each !== id);
};

/** An undone decision: the product is back where it was in the queue's order. */
const restoreToQueue = (id: string): void => {
  const at = forgotten.get(id);
  forgotten.delete(id);
  if (!queueOrder || at === undefined || queueOrder.includes(id)) return;
  queueOrder = [...queueOrder.slice(0, at), id, ...queueOrder.slice(at)];
};

const loadQueue = async (api: Api): Promise<string[]> => {
  if (queueOrder) return queueOrder;
  const page = await api.listProducts({ status: "pending_review", sort: "waiting", limit: 100 });
  queueOrder = page.products.map((product) => product.id);
  return queueOrder;
};

/** The product `step` places after (1) or before (-1) `id` in the queue; without `id` in it, the first. */
export const queueNeighbour = async (api: Api, id: string, step: 1 | -1): Promise<string | undefined> => {
  const order = await loadQueue(api);
  const at = order.indexOf(id);
  if (at < 0) return step === 1 ? order.find((each) => each !== id) : undefined;
  return order[at + step];
};

/** Whether a key press is typing: in a text field, a text area, a select or editable content. */
const typing = (target: EventTarget | null): boolean => {
  if (!(target instanceof HTMLElement)) return false;
  if (
    target.isContentEditable ||
    target instanceof HTMLTextAreaElement ||
    target instanceof HTMLSelectElement
  )
    return true;
  if (target instanceof HTMLInputElement)
    return !["radio", "checkbox", "button", "submit", "reset", "range"].includes(target.type);
  return false;
};

/**
 * Single-key shortcuts on the page: none fires while typing in a field, with Ctrl, Alt or Meta held, or while
 * a modal dialog is open (it has the keyboard).
 */
export const useKeys = (keys: Record<string, () => void>): void => {
  const ref = useRef(keys);
  ref.current = keys;
  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      if (event.defaultPrevented || event.ctrlKey || event.altKey || event.metaKey) return;
      if (typing(event.target) || document.querySelector("dialog[open]")) return;
      const action = ref.current[event.key];
      if (!action) return;
      event.preventDefault();
      action();
    };
    document.addEventListener("keydown", onKey);
    return () => document.removeEventListener("keydown", onKey);
  }, []);
};

const KEYS: [string, string][] = [
  ["j", "next product in the queue"],
  ["k", "previous product in the queue"],
  ["a", "choose the main image; approve once one is chosen"],
  ["r", "write the reason to reject"],
  ["u", `undo the last decision (within ${UNDO_WINDOW_MS / 1000} s of making it)`],
  ["x", "on the queue: select the current row, for Approve selected"],
  ["?", "this list of keys"],
  ["Escape", "close this list"],
];

/** The keys, in a modal dialog: focus moves into it, Escape closes it, and focus goes back where it was. */
export const KeyHelp = ({ open, onClose }: { open: boolean; onClose: () => void }) => {
  const ref = useRef<HTMLDialogElement>(null);
  const returnTo = useRef<Element | null>(null);
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (open && !dialog.open) {
      returnTo.current = document.activeElement;
      dialog.showModal();
    } else if (!open && dialog.open) {
      dialog.close();
    }
  }, [open]);
  const closed = () => {
    onClose();
    if (returnTo.current instanceof HTMLElement) returnTo.current.focus();
  };
  return (
    <dialog ref={ref} aria-labelledby="keys-heading" className="key-help" onClose={closed}>
      <h2 id="keys-heading">Keyboard shortcuts</h2>
      <p className="muted">They do nothing while you type in a field.</p>
      <dl>
        {KEYS.map(([key, what]) => (
          <div key={key}>
            <dt>
              <kbd>{key}</kbd>
            </dt>
            <dd>{what}</dd>
          </div>
        ))}
      </dl>
      <form method="dialog">
        <button type="submit" className="primary">
          Close
        </button>
      </form>
    </dialog>
  );
};

export const COMMON_REASONS = [
  "Background is not white",
  "Product is cut off",
  "Photo is blurred",
  "Wrong product",
];

/** What a 409 says: the decision that came first, as the product now is. */
export const decidedFirst = (product: ProductJson): string => {
  const what =
    product.status === "approved"
      ? `approved with ${product.mainImage ?? "no"} as its main image`
      : product.status === "rejected"
        ? `rejected: ${product.statusReason ?? "no reason given"}`
        : STATUS_LABELS[product.status].toLowerCase();
  return `Someone decided first: ${product.sku} was ${what} (${formatTime(product.statusChangedAt)}); its history names who.`;
};

export interface DecisionHandle {
  /** `a`: approves when a main image is chosen, else focuses the choice. */
  approveKey(): void;
  /** `r`: focuses the reason. */
  rejectKey(): void;
}

/**
 * Approve (with the main image, chosen among the current variants; none is preselected, and one that needs
 * attention says so) or reject (with a reason, 3–500 characters, checked before sending). A decision is
 * handed to `onDecide`, which holds it for undo (`undo.ts`) before it is sent; what the API answers then is
 * shown by the `DecisionToast`.
 */
export const DecisionPanel = ({
  product,
  handle,
  onDecide,
}: {
  product: ProductView;
  handle: { current: DecisionHandle | undefined };
  onDecide: (decision: ReviewDecision) => void;
}) => {
  const id = useId();
  const [mainImage, setMainImage] = useState<string>();
  const [reason, setReason] = useState("");
  const [errors, setErrors] = useState<{ mainImage?: string; reason?: string }>({});
  const choices = useRef<HTMLFieldSetElement>(null);
  const reasonRef = useRef<HTMLTextAreaElement>(null);
  const variants = product.images.filter((image) => image.sequence === product.sequence);
  const images = variants.length > 0 ? variants : product.images;

  const send = (decision: ReviewDecision) => {
    setErrors({});
    onDecide(decision);
  };

  const approve = (event?: FormEvent) => {
    event?.preventDefault();
    if (!mainImage) {
      setErrors({ mainImage: "Choose the main image first." });
      choices.current?.querySelector<HTMLInputElement>("input")?.focus();
      return;
    }
    send({ decision: "approve", mainImage });
  };

  const reject = (event?: FormEvent) => {
    event?.preventDefault();
    const text = reason.trim();
    const problem =
      text.length < 3
        ? "Reason must be at least 3 characters."
        : text.length > 500
          ? "Reason must be at most 500 characters."
          : undefined;
    if (problem) {
      setErrors({ reason: problem });
      reasonRef.current?.focus();
      return;
    }
    send({ decision: "reject", reason: text });
  };

  handle.current = {
    approveKey: () => {
      if (mainImage) approve();
      else
        (
          choices.current?.querySelector<HTMLInputElement>("input:checked") ??
          choices.current?.querySelector<HTMLInputElement>("input")
        )?.focus();
    },
    rejectKey: () => reasonRef.current?.focus(),
  };

  return (
    <section aria-labelledby={`${id}-heading`} className="decision">
      <h2 id={`${id}-heading`}>Decision</h2>
      <p className="muted">
        A decision is sent {UNDO_WINDOW_MS / 1000} s after you make it: until then <kbd>u</kbd> or Undo takes
        it back.
      </p>
      <div className="decision-forms">
        <form onSubmit={approve} aria-labelledby={`${id}-approve`}>
          <fieldset
            ref={choices}
            aria-describedby={errors.mainImage ? `${id}-main-error` : undefined}
            aria-invalid={errors.mainImage ? true : undefined}
          >
            <legend id={`${id}-approve`}>
              Approve with a main image <kbd>a</kbd>
            </legend>
            {images.map((image) => (
              <label key={`${image.sequence}-${image.variant}`} className="choice">
                <input
                  type="radio"
                  name={`${id}-main`}
                  value={image.variant}
                  checked={mainImage === image.variant}
                  onChange={() => setMainImage(image.variant)}
                />
                <img src={image.url} alt="" width={64} height={64} loading="lazy" />
                <span>
                  {image.variant}
                  {image.aiGenerated ? " (AI-generated)" : ""}
                  {image.needsAttention ? (
                    <strong className="warn"> ⚠ needs attention: check it shows the same product</strong>
                  ) : null}
                </span>
              </label>
            ))}
            {errors.mainImage ? (
              <p id={`${id}-main-error`} className="field-error">
                {errors.mainImage}
              </p>
            ) : null}
          </fieldset>
          <button type="submit" className="primary">
            Approve
          </button>
        </form>
        <form onSubmit={reject} aria-labelledby={`${id}-reject`}>
          <fieldset>
            <legend id={`${id}-reject`}>
              Reject with a reason <kbd>r</kbd>
            </legend>
            <div className="field">
              <label htmlFor={`${id}-common`}>Common reason</label>
              <select
                id={`${id}-common`}
                value=""
                onChange={(event) => {
                  if (event.target.value) setReason(event.target.value);
                }}
              >
                <option value="">Choose one to fill in the reason…</option>
                {COMMON_REASONS.map((text) => (
                  <option key={text} value={text}>
                    {text}
                  </option>
                ))}
              </select>
            </div>
            <div className="field">
              <label htmlFor={`${id}-reason`}>Reason for the seller (3–500 characters)</label>
              <textarea
                ref={reasonRef}
                id={`${id}-reason`}
                value={reason}
                maxLength={500}
                rows={3}
                aria-invalid={errors.reason ? true : undefined}
                aria-describedby={errors.reason ? `${id}-reason-error` : undefined}
                onChange={(event) => setReason(event.target.value)}
                onKeyDown={(event) => {
                  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) reject(event);
                }}
              />
              {errors.reason ? (
                <p id={`${id}-reason-error`} className="field-error">
                  {errors.reason}
                </p>
              ) : null}
            </div>
          </fieldset>
          <button type="submit">Reject</button>
        </form>
      </div>
    </section>
  );
};

/** Opens the product after `id` in the queue, or the queue when none is left. */
export const openNext = async (api: Api, id: string): Promise<void> => {
  const next = await queueNeighbour(api, id, 1).catch(() => undefined);
  forgetFromQueue(id);
  navigate(next ? `/product/${next}` : queueHref);
};

/**
 * `u`: takes back the decision held for undo, if any, and opens its product again (back in its place in the
 * queue's order). Answers whether there was one.
 */
export const undoLastDecision = (announce: (text: string) => void): boolean => {
  const undone = decisions.undo();
  if (!undone) return false;
  restoreToQueue(undone.id);
  announce(`Undone: ${undone.sku} stays in review.`);
  navigate(`/product/${undone.id}`);
  return true;
};

/** Holds a decision for undo, says so, and opens the next product of the queue at once. */
export const decideAndMoveOn = (
  api: Api,
  product: ProductView,
  decision: ReviewDecision,
  announce: (text: string) => void,
): void => {
  decisions.hold(api, { id: product.id, sku: product.sku, title: product.title }, decision);
  announce(
    `${describeDecision(product.sku, decision)}. Press u within ${UNDO_WINDOW_MS / 1000} seconds to undo.`,
  );
  void openNext(api, product.id);
};

const outcomeText = (outcome: DecisionOutcome): string => {
  switch (outcome.kind) {
    case "sent":
      return `${outcome.sku} is now ${STATUS_LABELS[outcome.product.status].toLowerCase()}.`;
    case "conflict":
      return outcome.product ? decidedFirst(outcome.product) : outcome.message;
    case "failed":
      return outcome.message;
    case "undone":
      return `Undone: ${outcome.sku} stays in review.`;
  }
};

/**
 * The decision held for undo, with its countdown and **Undo** (`u`), and what the last one sent came to: a
 * 409 (someone decided first) or a failure stays until dismissed. Shown on the queue and the product pages;
 * what it says is also read out once through the page's polite live region.
 */
export const DecisionToast = () => {
  const { held, sending, outcome } = useDecisions();
  const { announce } = useLive();
  const [now, setNow] = useState(Date.now);
  useEffect(() => {
    if (!held) return;
    const timer = setInterval(() => setNow(Date.now()), 250);
    return () => clearInterval(timer);
  }, [held]);
  // Each outcome is read out once, whichever page shows it.
  useEffect(() => {
    if (!outcome || outcome.kind === "undone" || announced.has(outcome.serial)) return;
    announced.add(outcome.serial);
    announce(outcomeText(outcome));
  }, [outcome, announce]);
  const problem = outcome && (outcome.kind === "conflict" || outcome.kind === "failed") ? outcome : undefined;
  return (
    <>
      {problem ? (
        <div className="decision-toast toast-error" role="alert">
          <p>
            {outcomeText(problem)} <Link href={`/product/${problem.id}`}>Open {problem.sku}</Link>
          </p>
          <button type="button" onClick={() => decisions.dismiss(problem.serial)}>
            Dismiss
          </button>
        </div>
      ) : null}
      {held ? (
        <div className="decision-toast" data-testid="held-decision">
          <p>
            {describeDecision(held.sku, held.decision)}. Sending in{" "}
            <span className="countdown">{Math.max(0, Math.ceil((held.sendsAt - now) / 1000))}</span> s.
          </p>
          <button type="button" onClick={() => undoLastDecision(announce)}>
            Undo <kbd>u</kbd>
          </button>
        </div>
      ) : sending.length > 0 ? (
        <div className="decision-toast">
          <p>Sending {sending.length === 1 ? "the decision" : `${sending.length} decisions`}…</p>
        </div>
      ) : outcome && !problem ? (
        <div className="decision-toast">
          <p>{outcomeText(outcome)}</p>
          <button type="button" onClick={() => decisions.dismiss(outcome.serial)}>
            Dismiss
          </button>
        </div>
      ) : null}
    </>
  );
};

const announced = new Set<number>();
