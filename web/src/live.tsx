import { createContext, type ReactNode, useContext, useEffect, useRef, useState } from "react";
import { type Api, ApiError, type ProductChange, SignedOutError } from "./api.ts";

/** How often the feed asks while the page is visible, and the longest wait after a network error. */
const POLL_MS = 1_000;
const MAX_BACKOFF_MS = 10_000;

export interface ChangesListener {
  /** Products that changed, each as `GET /products` lists it now (the newest last). */
  changes(changes: ProductChange[]): void;
  /** The cursor was refused (another database, a reset): the feed started again, so reload what is shown. */
  reset?(): void;
}

/**
 * The changes feed of the signed-in user (`GET /changes`): it takes a cursor first, so a list loaded after
 * `ready` misses no change, then asks `?since=` every second while the page is visible, at once when the
 * answer says `more`, and at once when the tab becomes visible again (it waits while hidden). A 304 is
 * nothing new; a network error waits longer each time (up to 10 s) and goes on; a 401 has already sent the
 * app to the sign-in page, and the feed stops.
 */
export class ChangesFeed {
  readonly ready: Promise<void>;
  private readonly listeners = new Set<ChangesListener>();
  private cursor: string | undefined;
  private stopped = false;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private running = false;
  private failures = 0;
  private markReady: () => void = () => {};
  private readonly api: Api;

  constructor(api: Api) {
    this.api = api;
    this.ready = new Promise((resolve) => {
      this.markReady = resolve;
    });
    document.addEventListener("visibilitychange", this.onVisibility);
    void this.poll();
  }

  subscribe(listener: ChangesListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    document.removeEventListener("visibilitychange", this.onVisibility);
  }

  private readonly onVisibility = () => {
    if (!document.hidden) this.schedule(0);
  };

  private schedule(delay: number): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.poll(), delay);
  }

  private async poll(): Promise<void> {
    // Hidden: wait for `visibilitychange`, which catches up at once. Only one call at a time.
    if (this.stopped || this.running || (document.hidden && this.cursor !== undefined)) return;
    this.running = true;
    let next = POLL_MS;
    try {
      const answer = await this.api.getChanges(this.cursor);
      this.failures = 0;
      if (answer && !this.stopped) {
        const first = this.cursor === undefined;
        this.cursor = answer.cursor;
        if (first) this.markReady();
        if (answer.changes.length > 0)
          for (const listener of this.listeners) listener.changes(answer.changes);
        if (answer.more) next = 0;
      }
    } catch (error) {
      if (error instanceof SignedOutError) {
        this.stop();
      } else if (error instanceof ApiError && error.status === 400 && this.cursor !== undefined) {
        // A cursor this API no longer knows: take a new one, and have the pages load their lists again.
        this.cursor = undefined;
        next = 0;
        for (const listener of this.listeners) listener.reset?.();
      } else {
        this.failures += 1;
        next = Math.min(MAX_BACKOFF_MS, POLL_MS * 2 ** this.failures);
      }
    } finally {
      this.running = false;
    }
    // Without a cursor yet, the lists wait for one: keep trying even while hidden.
    this.schedule(next);
  }
}

interface Live {
  feed: ChangesFeed;
  announce(message: string): void;
}

const LiveContext = createContext<Live | undefined>(undefined);

/**
 * One feed for the signed-in session (`sessionKey` changes start a new one), and a polite live region that
 * reads out the status changes the pages announce.
 */
export const LiveProvider = ({
  api,
  sessionKey,
  children,
}: {
  api: Api;
  sessionKey: string;
  children: ReactNode;
}) => {
  const [live, setLive] = useState<Live>();
  const [message, setMessage] = useState("");
  // biome-ignore lint/correctness/useExhaustiveDependencies: a new session is what asks for a new feed
  useEffect(() => {
    const feed = new ChangesFeed(api);
    setLive({ feed, announce: setMessage });
    return () => feed.stop();
  }, [api, sessionKey]);
  return (
    <>
      {live ? <LiveContext.Provider value={live}>{children}</LiveContext.Provider> : null}
      <div className="visually-hidden" aria-live="polite" aria-atomic="true">
        {message}
      </div>
    </>
  );
};

/** The session's feed: throws outside `LiveProvider`. */
export const useLive = (): Live => {
  const live = useContext(LiveContext);
  if (!live) throw new Error("useLive outside LiveProvider");
  return live;
};

/** Calls `listener` with every change the feed brings while the component is mounted. */
export const useChanges = (listener: ChangesListener): void => {
  const { feed } = useLive();
  const ref = useRef(listener);
  ref.current = listener;
  useEffect(
    () =>
      feed.subscribe({
        changes: (changes) => ref.current.changes(changes),
        reset: () => ref.current.reset?.(),
      }),
    [feed],
  );
};
