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
  /** The largest photo the API takes (`MAX_UPLOAD_BYTES`), so the page refuses a larger one before sending. */
  maxUploadBytes?: number;
}

/** The path the dashboard reads its configuration from. */
export const DASHBOARD_CONFIG_PATH = "/config.json";

const optionalText = (value: unknown, name: string): string | undefined => {
  if (value === undefined) return undefined;
  if (typeof value !== "string") throw new Error(`config.json: ${name} must be text`);
  return value;
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
    ...(domainUrl === undefined ? {} : { domainUrl }),
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
