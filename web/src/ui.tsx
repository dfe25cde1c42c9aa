import { type ReactNode, useCallback, useEffect, useRef, useState } from "react";
import type { ProductStatus } from "./api.ts";
import { SignedOutError } from "./api.ts";
import { STATUS_LABELS } from "./status.ts";

/**
 * The page's one h1. It takes focus when the page changes, so a screen reader announces where the user now
 * is (a client-side navigation is otherwise silent), and it names the tab.
 */
export const PageHeading = ({ children, title }: { children: ReactNode; title: string }) => {
  const ref = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    document.title = `${title} · Pixel Lab`;
    ref.current?.focus();
  }, [title]);
  return (
    <h1 ref={ref} tabIndex={-1}>
      {children}
    </h1>
  );
};

export const StatusBadge = ({ status }: { status: ProductStatus }) => (
  <span className={`status status-${status}`}>{STATUS_LABELS[status]}</span>
);

export type Resource<T> =
  | { state: "loading" }
  | { state: "failed"; message: string }
  | { state: "ready"; data: T };

/**
 * Loads `load()` whenever `key` changes (and on `reload`). A reload keeps what is shown until the new answer
 * replaces it, so a refresh neither flashes nor drops images that are still loading. A 401 is not shown here:
 * the app has already returned to the sign-in page with the reason.
 */
export const useResource = <T,>(key: string, load: () => Promise<T>): [Resource<T>, () => void] => {
  const [resource, setResource] = useState<Resource<T>>({ state: "loading" });
  const [round, setRound] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  const loadedKey = useRef<string>(undefined);
  // biome-ignore lint/correctness/useExhaustiveDependencies: `key` and `round` are what ask for a new load
  useEffect(() => {
    let current = true;
    if (loadedKey.current !== key) setResource({ state: "loading" });
    loadedKey.current = key;
    loadRef.current().then(
      (data) => {
        if (current) setResource({ state: "ready", data });
      },
      (error: unknown) => {
        if (!current || error instanceof SignedOutError) return;
        setResource({ state: "failed", message: error instanceof Error ? error.message : String(error) });
      },
    );
    return () => {
      current = false;
    };
  }, [key, round]);
  const reload = useCallback(() => setRound((value) => value + 1), []);
  return [resource, reload];
};

export const Loading = ({ what }: { what: string }) => (
  <p className="muted" role="status">
    Loading {what}…
  </p>
);

export const Failed = ({ message, retry }: { message: string; retry?: () => void }) => (
  <div className="notice notice-error" role="alert">
    <p>{message}</p>
    {retry ? (
      <button type="button" onClick={retry}>
        Try again
      </button>
    ) : null}
  </div>
);

const timeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
export const formatTime = (iso: string): string => timeFormat.format(new Date(iso));

const relative = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
/** "3 minutes ago", for how long a product has waited. */
export const formatAge = (iso: string, now = Date.now()): string => {
  const seconds = Math.round((Date.parse(iso) - now) / 1000);
  const units: [Intl.RelativeTimeFormatUnit, number][] = [
    ["day", 86_400],
    ["hour", 3_600],
    ["minute", 60],
  ];
  for (const [unit, size] of units) {
    if (Math.abs(seconds) >= size) return relative.format(Math.round(seconds / size), unit);
  }
  return relative.format(seconds, "second");
};

export const formatBytes = (bytes: number): string =>
  bytes >= 1024 * 1024
    ? `${(bytes / (1024 * 1024)).toFixed(1)} MB`
    : `${Math.max(1, Math.round(bytes / 1024))} KB`;
