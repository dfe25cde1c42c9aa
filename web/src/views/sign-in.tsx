import { type FormEvent, useEffect, useState } from "react";
import { ApiError, requestLocalToken } from "../api.ts";
import type { DashboardConfig } from "../dashboard-config.ts";
import { type CognitoSignIn, SignInError } from "../oidc.ts";
import { navigate } from "../router.tsx";
import { type Role, type Session, sessionFromToken } from "../session.ts";
import { PageHeading } from "../ui.tsx";

/** The same rule as the local issuer's (`LOCAL_USER_NAME` in local/identity.ts), which has the last word. */
const USER_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;

export const SignIn = ({
  config,
  cognito,
  callback,
  notice,
  onNotice,
  onSignedIn,
}: {
  config: DashboardConfig;
  /** Managed login, when `config.json` says `signIn: "cognito"`. */
  cognito: CognitoSignIn | undefined;
  /** This is managed login's return: complete the sign-in. */
  callback: boolean;
  notice: string | undefined;
  onNotice: (notice: string) => void;
  /** `next`: where to go, when the sign-in carried it through managed login. */
  onSignedIn: (session: Session, next?: string) => void;
}) => {
  const [role, setRole] = useState<Role>("seller");
  const [name, setName] = useState("");
  const [problem, setProblem] = useState<string>();
  const [busy, setBusy] = useState(false);

  // Managed login's return: the code exchanged for tokens (with the PKCE verifier kept in this tab), or its
  // refusal shown on the sign-in page.
  useEffect(() => {
    if (!callback || !cognito) return;
    // The app hands new callbacks on every render: only the latest run of this effect acts on the answer.
    let current = true;
    cognito.completeSignIn(location.href).then(
      ({ session, next }) => {
        if (current) onSignedIn(session, next);
      },
      (error: unknown) => {
        if (!current) return;
        onNotice(
          error instanceof SignInError ? error.message : "Sign-in could not be completed; sign in again.",
        );
        navigate("/sign-in", { replace: true });
      },
    );
    return () => {
      current = false;
    };
  }, [callback, cognito, onSignedIn, onNotice]);

  const redirect = async () => {
    if (!cognito) return;
    setBusy(true);
    setProblem(undefined);
    try {
      await cognito.signIn(new URLSearchParams(location.search).get("next") ?? undefined);
    } catch (error) {
      setProblem(
        `The sign-in page could not be opened: ${error instanceof Error ? error.message : String(error)}`,
      );
      setBusy(false);
    }
  };

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const trimmed = name.trim();
    if (!USER_NAME.test(trimmed)) {
      setProblem("Use 1 to 64 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit.");
      return;
    }
    setProblem(undefined);
    setBusy(true);
    try {
      const { accessToken } = await requestLocalToken(config, { name: trimmed, roles: [role] });
      onSignedIn(sessionFromToken(accessToken));
    } catch (error) {
      setProblem(
        error instanceof ApiError ? error.message : "The local stack did not answer. Is `npm start` running?",
      );
      setBusy(false);
    }
  };

  return (
    <div className="narrow">
      <PageHeading title="Sign in">Sign in</PageHeading>
      {notice ? (
        <div className="notice" role="status">
          {notice}
        </div>
      ) : null}
      {config.signIn === "local" ? (
        <form className="stack" onSubmit={submit} noValidate>
          <p className="muted">
            Development sign-in: the local stack signs a token with its own key for any name you choose. It
            exists only on <code>npm start</code>; a deployment signs in with Cognito.
          </p>
          <fieldset>
            <legend>Sign in as</legend>
            <label className="choice">
              <input
                type="radio"
                name="role"
                value="seller"
                checked={role === "seller"}
                onChange={() => setRole("seller")}
              />
              Seller: my products and their photos
            </label>
            <label className="choice">
              <input
                type="radio"
                name="role"
                value="reviewer"
                checked={role === "reviewer"}
                onChange={() => setRole("reviewer")}
              />
              Reviewer: the review queue
            </label>
          </fieldset>
          <div className="field">
            <label htmlFor="sign-in-name">Name</label>
            <input
              id="sign-in-name"
              name="name"
              autoComplete="username"
              autoCapitalize="none"
              spellCheck={false}
              required
              value={name}
              onChange={(event) => setName(event.target.value)}
              aria-describedby={problem ? "sign-in-hint sign-in-problem" : "sign-in-hint"}
              aria-invalid={problem ? true : undefined}
            />
            <p id="sign-in-hint" className="hint">
              Lowercase letters, digits, '.', '_' and '-'; a seller's name owns the products they create.
            </p>
            {problem ? (
              <p id="sign-in-problem" className="field-error" role="alert">
                {problem}
              </p>
            ) : null}
          </div>
          <div>
            <button type="submit" className="primary" disabled={busy}>
              {busy ? "Signing in…" : "Sign in"}
            </button>
          </div>
        </form>
      ) : callback && cognito ? (
        <p role="status">Signing in…</p>
      ) : cognito ? (
        <div className="stack">
          <p className="muted">
            You sign in on this deployment's sign-in page (your email, password and authenticator code), which
            then brings you back here.
          </p>
          {problem ? (
            <p className="field-error" role="alert">
              {problem}
            </p>
          ) : null}
          <div>
            <button type="button" className="primary" disabled={busy} onClick={redirect}>
              {busy ? "Opening the sign-in page…" : "Sign in"}
            </button>
          </div>
        </div>
      ) : (
        <p className="notice" role="alert">
          This deployment's config.json does not say how to sign in with Cognito (clientId, domainUrl and
          authority).
        </p>
      )}
    </div>
  );
};
