import { useSyncExternalStore } from "react";
import { type Api, ApiError, type ProductJson, type ReviewDecision } from "./api.ts";

/**
 * Undo for review decisions. The API has none (a decision is final), so the page holds a decision for a grace
 * window before sending it: `u` or **Undo** within it cancels it and nothing is sent; when the window ends it
 * is sent. A new decision while one is held sends the held one at once (only the last can be undone). When
 * the tab is hidden or closed inside the window, the held decision is sent at once with `keepalive`, so a
 * decision is never lost by leaving. Whatever the API answers then (a 409: someone decided first) is kept as
 * the outcome, for the page to show.
 */
export const UNDO_WINDOW_MS = 5_000;

export interface HeldDecision {
  id: string;
  sku: string;
  title: string;
  decision: ReviewDecision;
  /** When it is sent (ms since the epoch). */
  sendsAt: number;
}

export type DecisionOutcome = { serial: number; id: string; sku: string } & (
  | { kind: "sent"; product: ProductJson }
  | { kind: "conflict"; product: ProductJson | undefined; message: string }
  | { kind: "failed"; message: string }
  | { kind: "undone" }
);

export interface DecisionsState {
  held: HeldDecision | undefined;
  /** Decisions on their way to the API: their products are still in review, but decided here. */
  sending: readonly string[];
  /** What the last decision came to, until the next one. */
  outcome: DecisionOutcome | undefined;
}

/** "Approved MUG-1 with standard as its main image", "Rejected MUG-1: Photo is blurred". */
export const describeDecision = (sku: string, decision: ReviewDecision): string =>
  decision.decision === "approve"
    ? `Approved ${sku} with ${decision.mainImage} as its main image`
    : `Rejected ${sku}: ${decision.reason}`;

class Decisions {
  private state: DecisionsState = { held: undefined, sending: [], outcome: undefined };
  private timer: ReturnType<typeof setTimeout> | undefined;
  private api: Api | undefined;
  private serial = 0;
  private readonly listeners = new Set<() => void>();

  constructor() {
    // pagehide covers closing the tab and navigating away; a hidden tab may be discarded without one.
    addEventListener("pagehide", () => this.flush());
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "hidden") this.flush();
    });
  }

  readonly subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  readonly snapshot = (): DecisionsState => this.state;

  private set(update: Partial<DecisionsState>): void {
    this.state = { ...this.state, ...update };
    for (const listener of this.listeners) listener();
  }

  /** Whether the product's decision is held or on its way: the queue leaves it out meanwhile. */
  decided(id: string): boolean {
    return this.state.held?.id === id || this.state.sending.includes(id);
  }

  /** Holds a decision for the grace window; one already held is sent at once. */
  hold(api: Api, product: { id: string; sku: string; title: string }, decision: ReviewDecision): void {
    this.api = api;
    this.flush();
    clearTimeout(this.timer);
    const held = {
      id: product.id,
      sku: product.sku,
      title: product.title,
      decision,
      sendsAt: Date.now() + UNDO_WINDOW_MS,
    };
    // A problem with an earlier decision stays until dismissed; "sent" and "undone" give way.
    const outcome = this.state.outcome;
    this.set({
      held,
      outcome: outcome?.kind === "conflict" || outcome?.kind === "failed" ? outcome : undefined,
    });
    this.timer = setTimeout(() => this.flush(), UNDO_WINDOW_MS);
  }

  /** Cancels the held decision, if any: nothing is sent. Answers what was undone. */
  undo(): HeldDecision | undefined {
    const held = this.state.held;
    if (!held) return undefined;
    clearTimeout(this.timer);
    this.set({
      held: undefined,
      outcome: { serial: ++this.serial, id: held.id, sku: held.sku, kind: "undone" },
    });
    return held;
  }

  /** Sends the held decision now (the window ended, another decision came, or the tab is going away). */
  flush(): void {
    const held = this.state.held;
    const api = this.api;
    if (!held || !api) return;
    clearTimeout(this.timer);
    this.set({ held: undefined, sending: [...this.state.sending, held.id] });
    const done = (outcome: DecisionOutcome) =>
      this.set({
        sending: this.state.sending.filter((id) => id !== held.id),
        // A newer decision's outcome is not replaced by an older one's.
        outcome:
          this.state.outcome && this.state.outcome.serial > outcome.serial ? this.state.outcome : outcome,
      });
    const serial = ++this.serial;
    const base = { serial, id: held.id, sku: held.sku };
    api.reviewProductKeepalive(held.id, held.decision).then(
      (product) => done({ ...base, kind: "sent", product }),
      (error: unknown) =>
        done(
          error instanceof ApiError && error.status === 409
            ? { ...base, kind: "conflict", product: error.product, message: error.message }
            : {
                ...base,
                kind: "failed",
                message: `${describeDecision(held.sku, held.decision)} was not saved: ${
                  error instanceof Error ? error.message : String(error)
                }`,
              },
        ),
    );
  }

  /** Forgets the outcome shown (the reviewer dismissed it). */
  dismiss(serial: number): void {
    if (this.state.outcome?.serial === serial) this.set({ outcome: undefined });
  }
}

/** The tab's one holder of decisions: it outlives the pages, so a decision survives moving to the next product. */
export const decisions = new Decisions();

export const useDecisions = (): DecisionsState =>
  useSyncExternalStore(decisions.subscribe, decisions.snapshot);
