/**
 * What `/config.json` tells the dashboard about the environment it runs in. The local stack serves it from
 * its own address; in AWS the deployment will write it beside the built files. It carries no secret: a
 * public app client id and the user pool's ids are what any sign-in page shows.
 */
export interface DashboardConfig {
  /** Where the API is; "" means the dashboard's own origin (the local stack serves both). */
  apiUrl: string;
  /**
   * The WebSocket that pushes each product's changes: `wss://…` in AWS, a path (`/push`) on the page's own
   * origin locally; absent, the page follows the changes feed alone.
   */
  pushUrl?: string;
  /** `local`: the development sign-in (tokens from the local stack's own key); `cognito`: the user pool. */
  signIn: "local" | "cognito";
  userPoolId?: string;
  clientId?: string;
  /** Cognito's managed login, e.g. `https://pixel-lab.auth.eu-west-1.amazoncognito.com`. */
  domainUrl?: string;
  /**
   * The tokens' issuer, `https://cognito-idp.<region>.amazonaws.com/<userPoolId>`: the OpenID Connect
   * authority the sign-in library records in its state. Its endpoints come from `domainUrl`, so the page never
   * fetches the issuer's discovery document (which the page's CSP would have to allow).
   */
  authority?: string;
  /** The largest photo the API takes (`MAX_UPLOAD_BYTES`), so the page refuses a larger one before sending. */
  maxUploadBytes?: number;
}

/** The path the dashboard reads its configuration from. */
export const DASHBOARD_CONFIG_PATH = "/config.json";

/**
 * The dashboard's page that Cognito's managed login returns to with the authorization code: registered as the
 * app client's callback URL under each dashboard URL (lib/identity.ts), and answered by the page (web/src/oidc.ts).
 */
export const CALLBACK_PATH = "/auth/callback";

const optionalText = (value: unknown, name: string): string | undefined => {
  if (value === undefined) return undefined;
  if (typeof value !== "string") throw new Error(`config.json: ${name} must be text`);
  return value;
};

/** Plain http is for a sign-in server on this machine (a test's); anything else must be https. */
const isSignInUrl = (text: string): boolean => {
  try {
    const url = new URL(text);
    const local = ["localhost", "127.0.0.1", "[::1]"].includes(url.hostname);
    return (url.protocol === "https:" || (url.protocol === "http:" && local)) && !url.search && !url.hash;
  } catch {
    return false;
  }
};

/** Managed login needs the app client, the login domain and the issuer: each missing one is named. */
const checkCognitoSignIn = (fields: Record<"clientId" | "domainUrl" | "authority", string | undefined>) => {
  const missing = Object.entries(fields).flatMap(([name, value]) => (value ? [] : [name]));
  if (missing.length > 0) {
    throw new Error(`config.json: signIn "cognito" needs ${missing.join(", ")}`);
  }
  for (const name of ["domainUrl", "authority"] as const) {
    if (!isSignInUrl(fields[name] ?? "")) {
      throw new Error(
        `config.json: ${name} must be an https:// URL without query or fragment (http:// only for localhost)`,
      );
    }
  }
};

/** Checks what `/config.json` answered; a wrong shape is an error naming the field. */
export const parseDashboardConfig = (value: unknown): DashboardConfig => {
  if (typeof value !== "object" || value === null) throw new Error("config.json is not a JSON object");
  const record = value as Record<string, unknown>;
  if (typeof record.apiUrl !== "string") throw new Error("config.json: apiUrl must be text");
  if (record.signIn !== "local" && record.signIn !== "cognito") {
    throw new Error('config.json: signIn must be "local" or "cognito"');
  }
  const userPoolId = optionalText(record.userPoolId, "userPoolId");
  const clientId = optionalText(record.clientId, "clientId");
  const pushUrl = optionalText(record.pushUrl, "pushUrl");
  if (pushUrl !== undefined && !/^(wss?:\/\/[^/]|\/)/.test(pushUrl)) {
    throw new Error("config.json: pushUrl must be a ws:// or wss:// URL, or a path on the page's origin");
  }
  const domainUrl = optionalText(record.domainUrl, "domainUrl");
  const authority = optionalText(record.authority, "authority");
  if (record.signIn === "cognito") checkCognitoSignIn({ clientId, domainUrl, authority });
  const { maxUploadBytes } = record;
  if (
    maxUploadBytes !== undefined &&
    (typeof maxUploadBytes !== "number" || !Number.isInteger(maxUploadBytes) || maxUploadBytes < 1)
  ) {
    throw new Error("config.json: maxUploadBytes must be a whole number of bytes");
  }
  return {
    apiUrl: record.apiUrl.replace(/\/$/, ""),
    ...(pushUrl === undefined ? {} : { pushUrl }),
    signIn: record.signIn,
    ...(userPoolId === undefined ? {} : { userPoolId }),
    ...(clientId === undefined ? {} : { clientId }),
    ...(domainUrl === undefined ? {} : { domainUrl: domainUrl.replace(/\/$/, "") }),
    ...(authority === undefined ? {} : { authority }),
    ...(maxUploadBytes === undefined ? {} : { maxUploadBytes }),
  };
};

/** The local stack's development sign-in: a POST the local gateway alone answers (never deployed). */
export const LOCAL_TOKEN_PATH = "/local/token";

export interface LocalTokenRequest {
  name: string;
  roles: ("seller" | "reviewer")[];
}

export interface LocalTokenResponse {
  accessToken: string;
  expiresAt: string;
}
