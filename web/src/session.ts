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

/** A session from an access token: its `username` (else `sub`), its groups as roles, its expiry. */
export const sessionFromToken = (accessToken: string): Session => {
  const claims = decodePayload(accessToken);
  const groups = Array.isArray(claims["cognito:groups"]) ? (claims["cognito:groups"] as unknown[]) : [];
  const roles = groups.flatMap((group) =>
    typeof group === "string" && ROLE_OF_GROUP[group] ? [ROLE_OF_GROUP[group]] : [],
  );
  const name =
    typeof claims.username === "string" ? claims.username : typeof claims.sub === "string" ? claims.sub : "";
  const exp = typeof claims.exp === "number" ? claims.exp : 0;
  return { accessToken, expiresAt: new Date(exp * 1000).toISOString(), name, roles };
};

export const isExpired = (session: Session, now = Date.now()): boolean =>
  Date.parse(session.expiresAt) <= now;

export const readSession = (): Session | undefined => {
  const stored = sessionStorage.getItem(STORAGE_KEY);
  if (!stored) return undefined;
  try {
    return sessionFromToken((JSON.parse(stored) as { accessToken: string }).accessToken);
  } catch {
    sessionStorage.removeItem(STORAGE_KEY);
    return undefined;
  }
};

export const saveSession = (session: Session): void => {
  sessionStorage.setItem(STORAGE_KEY, JSON.stringify({ accessToken: session.accessToken }));
};

export const clearSession = (): void => sessionStorage.removeItem(STORAGE_KEY);

/** Where a user lands after signing in: a reviewer's work is the queue, a seller's their products. */
export const homePath = (session: Session): string =>
  session.roles.includes("reviewer") && !session.roles.includes("seller") ? "/queue" : "/gallery";
