import type { PushMessage } from "../../lambdas/domain/push.ts";
import { PUSH } from "../../lambdas/names.ts";
import type { ProductChange } from "./api.ts";

/** The longest wait between tries to reconnect. */
const MAX_RECONNECT_MS = 30_000;

export type PushState = "connecting" | "open" | "closed";

/**
 * The push connection of the signed-in tab: a WebSocket to `pushUrl` with the access token in the query (a
 * browser cannot set headers on one), which the API's authorizer verifies. Each message is a change as the
 * changes feed would tell it. A closed connection is tried again after 1, 2, 4… up to 30 s, at once when the
 * tab comes back into view; a ping every few minutes keeps API Gateway from closing it as idle. While it is
 * not open, the feed polls as before: push only makes the news come sooner.
 */
export class PushConnection {
  private socket: WebSocket | undefined;
  private stopped = false;
  private failures = 0;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private pingTimer: ReturnType<typeof setInterval> | undefined;
  private readonly url: string;
  private readonly onChange: (change: ProductChange) => void;
  private readonly onState: (state: PushState) => void;

  constructor(
    pushUrl: string,
    token: string,
    onChange: (change: ProductChange) => void,
    onState: (state: PushState) => void,
  ) {
    this.onChange = onChange;
    this.onState = onState;
    const base = pushUrl.startsWith("/")
      ? `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}${pushUrl}`
      : pushUrl;
    const url = new URL(base);
    url.searchParams.set(PUSH.tokenParameter, token);
    this.url = url.toString();
    document.addEventListener("visibilitychange", this.onVisibility);
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.reconnectTimer);
    clearInterval(this.pingTimer);
    document.removeEventListener("visibilitychange", this.onVisibility);
    this.socket?.close(1000, "signed out");
  }

  private readonly onVisibility = () => {
    if (!document.hidden && !this.socket && !this.stopped) {
      clearTimeout(this.reconnectTimer);
      this.connect();
    }
  };

  private connect(): void {
    this.onState("connecting");
    const socket = new WebSocket(this.url);
    this.socket = socket;
    socket.addEventListener("open", () => {
      this.failures = 0;
      this.onState("open");
      this.pingTimer = setInterval(() => {
        if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ action: "ping" }));
      }, PUSH.pingSeconds * 1000);
    });
    socket.addEventListener("message", (event) => {
      const message = parseMessage(event.data);
      if (message) this.onChange(message.change);
    });
    socket.addEventListener("close", () => {
      clearInterval(this.pingTimer);
      this.socket = undefined;
      if (this.stopped) return;
      this.onState("closed");
      this.failures += 1;
      const wait = Math.min(MAX_RECONNECT_MS, 1000 * 2 ** (this.failures - 1));
      // Hidden: wait for the tab to come back (`visibilitychange`) rather than reconnect unseen.
      if (!document.hidden) this.reconnectTimer = setTimeout(() => this.connect(), wait);
    });
  }
}

/** A message this page understands, or undefined: an unknown kind is ignored, so the API may add kinds. */
const parseMessage = (data: unknown): PushMessage | undefined => {
  if (typeof data !== "string") return undefined;
  try {
    const message = JSON.parse(data) as Partial<PushMessage> | null;
    return message?.type === "change" && typeof message.change?.product?.id === "string"
      ? (message as PushMessage)
      : undefined;
  } catch {
    return undefined;
  }
};
