import { createContext, type ReactNode, useContext, useEffect, useRef, useState } from "react";
import { type Api, ApiError, type ProductChange, SignedOutError } from "./api.ts";
import { PushConnection, type PushState } from "./push.ts";

/**
 * How often the feed asks while the page is visible and push is down, how often while push is up (only to
 * catch what a lost push missed), and the longest wait after a network error.
 */
const POLL_MS = 1_000;
const POLL_WITH_PUSH_MS = 30_000;
const MAX_BACKOFF_MS = 10_000;

/** The newest history id a change carries; a change carries at least one unless the product has none. */
const newestEvent = (change: ProductChange): number =>
  change.events.reduce((newest, event) => Math.max(newest, event.id), 0);

export interface ChangesListener {
  /** Products that changed, each as `GET /products` lists it now (the newest last). */
  changes(changes: ProductChange[]): void;
  /** The cursor was refused (another database, a reset): the feed started again, so reload what is shown. */
  reset?(): void;
}

/**
 * The changes of the signed-in user, from push and the changes feed together. The feed (`GET /changes`) takes
 * a cursor first, so a list loaded after `ready` misses no change, then asks `?since=` every second while the
 * page is visible and push is down, every 30 s while push is up, at once when push (re)connects (what came
 * while it was down), when the answer says `more`, and when the tab becomes visible again (it waits while
 * hidden). A 304 is nothing new; a network error waits longer each time (up to 10 s) and goes on; a 401 has
 * already sent the app to the sign-in page, and the feed stops. A change comes to the listeners once: one
 * whose newest event is not newer than the product's last one told (the feed repeating a push, or a late
 * push) is dropped.
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
  private push: PushConnection | undefined;
  private pushState: PushState = "closed";
  private readonly told = new Map<string, number>();

  constructor(api: Api, push?: { url: string; token: string }) {
    this.api = api;
    this.ready = new Promise((resolve) => {
      this.markReady = resolve;
    });
    document.addEventListener("visibilitychange", this.onVisibility);
    void this.poll();
    // Push connects once the feed's first answer has shown the token is good: a refused token sends the app
    // to the sign-in page instead, and never opens a socket.
    if (push) {
      void this.ready.then(() => {
        if (this.stopped) return;
        this.push = new PushConnection(
          push.url,
          push.token,
          (change) => this.deliver([change]),
          (state) => this.onPushState(state),
        );
      });
    }
  }

  /** `push` while the WebSocket is open, else `feed`: what brings the news now. */
  get mode(): "push" | "feed" {
    return this.pushState === "open" ? "push" : "feed";
  }

  private onPushState(state: PushState): void {
    const wasOpen = this.pushState === "open";
    this.pushState = state;
    document.documentElement.dataset.live = this.mode;
    // Opened: catch up on what came before. Closed: go back to polling every second.
    if (state === "open" || wasOpen) this.schedule(0);
  }

  private deliver(changes: ProductChange[]): void {
    const fresh = changes.filter((change) => {
      const newest = newestEvent(change);
      const told = this.told.get(change.product.id) ?? -1;
      if (newest !== 0 && newest <= told) return false;
      this.told.set(change.product.id, newest);
      return true;
    });
    if (fresh.length === 0) return;
    for (const listener of this.listeners) listener.changes(fresh);
  }

  subscribe(listener: ChangesListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.push?.stop();
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
    let next = this.pushState === "open" ? POLL_WITH_PUSH_MS : POLL_MS;
    try {
      const answer = await this.api.getChanges(this.cursor);
      this.failures = 0;
      if (answer && !this.stopped) {
        const first = this.cursor === undefined;
        this.cursor = answer.cursor;
        if (first) this.markReady();
        if (answer.changes.length > 0) this.deliver(answer.changes);
        if (answer.more) next = 0;
      }
    } catch (error) {
      if (error instanceof SignedOutError) {
        this.stop();
      } else if (error instanceof ApiError && error.status === 400 && this.cursor !== undefined) {
        // A cursor this API no longer knows: take a new one, and have the pages load their lists again.
        this.cursor = undefined;
        this.told.clear();
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
  pushUrl,
  children,
}: {
  api: Api;
  /** The access token: a new one starts a new feed (and push connection, which carries it). */
  sessionKey: string;
  pushUrl?: string | undefined;
  children: ReactNode;
}) => {
  const [live, setLive] = useState<Live>();
  const [message, setMessage] = useState("");
  useEffect(() => {
    const feed = new ChangesFeed(api, pushUrl ? { url: pushUrl, token: sessionKey } : undefined);
    setLive({ feed, announce: setMessage });
    return () => feed.stop();
  }, [api, sessionKey, pushUrl]);
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
