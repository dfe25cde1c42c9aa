import { type AnchorHTMLAttributes, type MouseEvent, useSyncExternalStore } from "react";
import type { ProductStatus } from "./api.ts";
import { CALLBACK_PATH } from "./dashboard-config.ts";
import { STATUS_LABELS } from "./status.ts";

/**
 * The dashboard's pages, as paths of their own. None of them is an API route (`/products…`, `/reviews`,
 * `/changes`): the gateway answers an unknown path that asks for HTML with the dashboard, and an API path
 * always with the API.
 */
export type Route =
  | { view: "home" }
  | { view: "sign-in" }
  /** Where Cognito's managed login returns with the authorization code (`CALLBACK_PATH` in dashboard-config.ts). */
  | { view: "auth-callback" }
  | { view: "gallery"; status: ProductStatus | undefined }
  | { view: "new-products" }
  | { view: "queue"; category: string; seller: string; q: string }
  | { view: "product"; id: string }
  | { view: "not-found"; path: string };

const isStatus = (value: string | null): value is ProductStatus =>
  value !== null && Object.hasOwn(STATUS_LABELS, value);

export const parseRoute = (path: string, search: string): Route => {
  const params = new URLSearchParams(search);
  if (path === "/") return { view: "home" };
  if (path === "/sign-in") return { view: "sign-in" };
  if (path === CALLBACK_PATH) return { view: "auth-callback" };
  if (path === "/gallery") {
    const status = params.get("status");
    return { view: "gallery", status: isStatus(status) ? status : undefined };
  }
  if (path === "/new-products") return { view: "new-products" };
  if (path === "/queue") {
    return {
      view: "queue",
      category: params.get("category") ?? "",
      seller: params.get("seller") ?? "",
      q: params.get("q") ?? "",
    };
  }
  const product = /^\/product\/([^/]+)$/.exec(path);
  if (product?.[1]) return { view: "product", id: decodeURIComponent(product[1]) };
  return { view: "not-found", path };
};

const CHANGE = "pixel-lab:navigate";

export const navigate = (href: string, { replace = false } = {}): void => {
  if (replace) history.replaceState(null, "", href);
  else history.pushState(null, "", href);
  window.dispatchEvent(new Event(CHANGE));
};

const subscribe = (onChange: () => void) => {
  window.addEventListener("popstate", onChange);
  window.addEventListener(CHANGE, onChange);
  return () => {
    window.removeEventListener("popstate", onChange);
    window.removeEventListener(CHANGE, onChange);
  };
};

const currentHref = () => `${location.pathname}${location.search}`;

/** The route of the address bar, re-read on every navigation. */
export const useRoute = (): Route => {
  const href = useSyncExternalStore(subscribe, currentHref);
  const url = new URL(href, location.origin);
  return parseRoute(url.pathname, url.search);
};

/** A link that navigates within the page; a modified click (new tab, new window) is left to the browser. */
export const Link = ({
  href,
  onClick,
  ...rest
}: AnchorHTMLAttributes<HTMLAnchorElement> & { href: string }) => {
  const follow = (event: MouseEvent<HTMLAnchorElement>) => {
    onClick?.(event);
    if (event.defaultPrevented || event.button !== 0) return;
    if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    navigate(href);
  };
  return <a href={href} onClick={follow} {...rest} />;
};
