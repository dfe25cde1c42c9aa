import { ErrorResponse, type User, UserManager, WebStorageStateStore } from "oidc-client-ts";
import { CALLBACK_PATH, type DashboardConfig } from "./dashboard-config.ts";
import { type Session, sessionFromToken } from "./session.ts";

/**
 * Sign-in through Cognito's managed login: the authorization-code flow with PKCE (S256, the library's default),
 * by oidc-client-ts. The endpoints are managed login's own paths on `domainUrl`, so the page needs no
 * discovery request. The API is sent the ACCESS token (the API refuses id tokens); the id token only names
 * the user on the page.
 */

/** What the page asks for: the scopes the app client allows (`lib/identity.ts`). */
const SCOPES = "openid email profile";

export interface CognitoSignIn {
  /** Leaves the page for managed login; `next` is where to go after signing in. */
  signIn(next: string | undefined): Promise<void>;
  /** Completes the sign-in on the callback page: the session and where to go, or an error a person can read. */
  completeSignIn(url: string): Promise<{ session: Session; next: string | undefined }>;
  /** A new access token by the refresh token, when there is one; `undefined` when there is none or it failed. */
  renew(): Promise<Session | undefined>;
  /** Forgets the tokens and leaves the page for managed login's `/logout`, which ends its own session too. */
  signOut(): Promise<void>;
}

/** Thrown by `completeSignIn`: its message is shown on the sign-in page as it is. */
export class SignInError extends Error {}

type CognitoConfig = DashboardConfig & { clientId: string; domainUrl: string; authority: string };

const isCognitoConfig = (config: DashboardConfig): config is CognitoConfig =>
  config.signIn === "cognito" &&
  Boolean(config.clientId) &&
  Boolean(config.domainUrl) &&
  Boolean(config.authority);

/** The provider's words for the usual refusals; anything else is shown with its code. */
const ERROR_WORDS: Record<string, string> = {
  access_denied: "access was denied",
  invalid_request: "the sign-in request was refused",
  unauthorized_client: "this app client may not sign in this way",
  invalid_scope: "the app client may not ask for these scopes",
  server_error: "the sign-in service failed",
  temporarily_unavailable: "the sign-in service is unavailable for now",
};

const describeError = (error: string, description: string | null | undefined): string => {
  const words = ERROR_WORDS[error] ?? `the sign-in service answered ${error}`;
  return `Sign-in did not complete: ${words}${description ? ` (${description.replace(/\.$/, "")})` : ""}.`;
};

const sessionOf = (user: User): Session => {
  const email = typeof user.profile.email === "string" ? user.profile.email : undefined;
  return sessionFromToken(user.access_token, email);
};

/** One sign-in per page load: React may run the callback's effect twice, and a code can be exchanged once. */
const completions = new Map<string, Promise<{ session: Session; next: string | undefined }>>();

export const createCognitoSignIn = (config: DashboardConfig, origin: string): CognitoSignIn => {
  if (!isCognitoConfig(config))
    throw new Error("config.json: Cognito sign-in needs clientId, domainUrl and authority");
  // The tab's sessionStorage for both the PKCE verifier (between leaving and coming back) and the tokens,
  // like the development sign-in: closing the tab forgets them.
  const store = new WebStorageStateStore({ store: sessionStorage });
  const manager = new UserManager({
    authority: config.authority,
    client_id: config.clientId,
    redirect_uri: `${origin}${CALLBACK_PATH}`,
    response_type: "code",
    scope: SCOPES,
    metadata: {
      issuer: config.authority,
      authorization_endpoint: `${config.domainUrl}/oauth2/authorize`,
      token_endpoint: `${config.domainUrl}/oauth2/token`,
      revocation_endpoint: `${config.domainUrl}/oauth2/revoke`,
    },
    stateStore: store,
    userStore: store,
    // Renewal is the app's call (`renew`), by refresh token only: the library's automatic renewal would fall
    // back to a hidden iframe, which managed login cannot complete without a session cookie and a frame the
    // page's CSP refuses.
    automaticSilentRenew: false,
    loadUserInfo: false,
  });

  let renewing: Promise<Session | undefined> | undefined;

  return {
    async signIn(next) {
      await manager.signinRedirect({ state: { next } });
    },

    completeSignIn(url) {
      const pending =
        completions.get(url) ??
        (async () => {
          const params = new URL(url).searchParams;
          const error = params.get("error");
          // An error without a state (a refusal before managed login knew the request) has nothing to match.
          if (error && !params.get("state"))
            throw new SignInError(describeError(error, params.get("error_description")));
          try {
            const user = await manager.signinRedirectCallback(url);
            const state = user.state as { next?: string } | undefined;
            return { session: sessionOf(user), next: state?.next };
          } catch (caught) {
            if (caught instanceof ErrorResponse) {
              throw new SignInError(describeError(caught.error ?? "error", caught.error_description));
            }
            const reason = caught instanceof Error ? caught.message.replace(/\.$/, "") : String(caught);
            throw new SignInError(`Sign-in could not be completed (${reason}); sign in again.`);
          }
        })();
      completions.set(url, pending);
      return pending;
    },

    renew() {
      // The calls refused together (the feed, a list) share one refresh.
      renewing ??= (async () => {
        const user = await manager.getUser();
        try {
          const renewed = user?.refresh_token ? await manager.signinSilent() : null;
          if (renewed) return sessionOf(renewed);
        } catch {
          // A refresh token that expired or was revoked: the caller signs the user out with the API's reason.
        }
        // Signed out: no tokens of this user stay in the tab.
        await manager.removeUser();
        return undefined;
      })().finally(() => {
        renewing = undefined;
      });
      return renewing;
    },

    async signOut() {
      await manager.removeUser();
      // Cognito's logout is not OpenID Connect's end-session endpoint: it takes the app client and a
      // registered logout URL, https://docs.aws.amazon.com/cognito/latest/developerguide/logout-endpoint.html
      const logout = new URL(`${config.domainUrl}/logout`);
      logout.searchParams.set("client_id", config.clientId);
      logout.searchParams.set("logout_uri", `${origin}/`);
      location.assign(logout.href);
    },
  };
};
