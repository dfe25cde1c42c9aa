/**
 * The signed-in user, kept in sessionStorage: it lasts as long as the tab, and signing out (or closing the
 * tab) forgets it. Name and roles are read from the access token's own claims, so a Cognito token and a
 * local one are read alike; the API verifies the token, the dashboard only shows what it says.
 */

export type Role = "seller" | "reviewer";

export interface Session {
  accessToken: string;
  /** ISO time the token expires. */
  expiresAt: string;
  name: string;
  roles: Role[];
  /** The name shown instead of the token's own (kept with the token across reloads). */
  displayName?: string;
}

const STORAGE_KEY = "pixel-lab.session";

const ROLE_OF_GROUP: Record<string, Role> = { sellers: "seller", reviewers: "reviewer" };

const decodePayload = (token: string): Record<string, unknown> => {
  const part = token.split(".")[1];
  if (!part) throw new Error("the access token is not a JWT");
  const base64 = part.replace(/-/g, "+").replace(/_/g, "/");
  const bytes = Uint8Array.from(atob(base64), (char) => char.charCodeAt(0));
  return JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>;
};

/**
 * A session from an access token: its `username` (else `sub`), its groups as roles, its expiry. `displayName`
 * replaces the name shown: Cognito's `username` is a generated id when users sign in by email, so the
 * Cognito path shows the id token's email instead.
 */
export const sessionFromToken = (accessToken: string, displayName?: string): Session => {
  const claims = decodePayload(accessToken);
  const groups = Array.isArray(claims["cognito:groups"]) ? (claims["cognito:groups"] as unknown[]) : [];
  const roles = groups.flatMap((group) =>
    typeof group === "string" && ROLE_OF_GROUP[group] ? [ROLE_OF_GROUP[group]] : [],
  );
  const name =
    displayName ||
    (typeof claims.username === "string"
      ? claims.username
      : typeof claims.sub === "string"
        ? claims.sub
        : "");
  const exp = typeof claims.exp === "number" ? claims.exp : 0;
  return {
    accessToken,
    expiresAt: new Date(exp * 1000).toISOString(),
    name,
    roles,
    ...(displayName ? { displayName } : {}),
  };
};

export const isExpired = (session: Session, now = Date.now()): boolean =>
  Date.parse(session.expiresAt) <= now;

export const readSession = (): Session | undefined => {
  const stored = sessionStorage.getItem(STORAGE_KEY);
  if (!stored) return undefined;
  try {
    const { accessToken, displayName } = JSON.parse(stored) as { accessToken: string; displayName?: string };
    return sessionFromToken(accessToken, displayName);
  } catch {
    sessionStorage.removeItem(STORAGE_KEY);
    return undefined;
  }
};

export const saveSession = (session: Session): void => {
  const { accessToken, displayName } = session;
  sessionStorage.setItem(STORAGE_KEY, JSON.stringify({ accessToken, displayName }));
};

export const clearSession = (): void => sessionStorage.removeItem(STORAGE_KEY);

const NOTICE_KEY = "pixel-lab.notice";

/**
 * A message for the sign-in page that must outlive a full page load: signing out through Cognito leaves the
 * page for managed login's `/logout`, which sends the browser back to a fresh copy of the dashboard.
 */
export const keepNotice = (notice: string): void => sessionStorage.setItem(NOTICE_KEY, notice);

let taken: { notice: string | undefined } | undefined;

/** The kept message, for this page load: the stored copy is forgotten at the first read. */
export const takeNotice = (): string | undefined => {
  if (!taken) {
    taken = { notice: sessionStorage.getItem(NOTICE_KEY) ?? undefined };
    sessionStorage.removeItem(NOTICE_KEY);
  }
  return taken.notice;
};

/** Where a user lands after signing in: a reviewer's work is the queue, a seller's their products. */
export const homePath = (session: Session): string =>
  session.roles.includes("reviewer") && !session.roles.includes("seller") ? "/queue" : "/gallery";
