import { type ReactNode, useEffect, useMemo, useRef, useState } from "react";
import { createApi } from "./api.ts";
import type { DashboardConfig } from "./dashboard-config.ts";
import { LiveProvider } from "./live.tsx";
import { createCognitoSignIn } from "./oidc.ts";
import { Link, navigate, type Route, useRoute } from "./router.tsx";
import {
  clearSession,
  homePath,
  keepNotice,
  type Role,
  readSession,
  type Session,
  saveSession,
  takeNotice,
} from "./session.ts";
import { PageHeading } from "./ui.tsx";
import { decisions } from "./undo.ts";
import { MAX_UPLOAD_BYTES } from "./upload.ts";
import { Gallery } from "./views/gallery.tsx";
import { NewProducts } from "./views/new-products.tsx";
import { ProductPage } from "./views/product.tsx";
import { Queue } from "./views/queue.tsx";
import { SignIn } from "./views/sign-in.tsx";

/** Where to go after signing in: only a path of this dashboard, never another site. */
const safeNext = (next: string | null): string | undefined =>
  next?.startsWith("/") && !next.startsWith("//") && !next.startsWith("/sign-in") ? next : undefined;

const ROLE_LABEL: Record<Role, string> = { seller: "seller", reviewer: "reviewer" };

export const App = ({ config }: { config: DashboardConfig }) => {
  const route = useRoute();
  const [session, setSession] = useState<Session | undefined>(readSession);
  // A notice kept across a page load: "You signed out." after Cognito's /logout sent the browser back.
  const [notice, setNotice] = useState<string | undefined>(takeNotice);
  const sessionRef = useRef(session);
  sessionRef.current = session;
  const cognito = useMemo(
    () => (config.signIn === "cognito" ? createCognitoSignIn(config, location.origin) : undefined),
    [config],
  );

  const api = useMemo(
    () =>
      createApi(
        config,
        () => sessionRef.current?.accessToken,
        (reason) => {
          clearSession();
          setSession(undefined);
          setNotice(`You were signed out: ${reason.replace(/\.$/, "")}.`);
        },
        cognito
          ? async () => {
              const renewed = await cognito.renew();
              if (!renewed) return false;
              saveSession(renewed);
              // The call is sent again at once, before React renders: the new token must be read now.
              sessionRef.current = renewed;
              setSession(renewed);
              return true;
            }
          : undefined,
      ),
    [config, cognito],
  );

  // Without a session every page but sign-in goes to sign-in, remembering where the user was going.
  const mustSignIn = !session && route.view !== "sign-in" && route.view !== "auth-callback";
  const signedInOnSignIn =
    session && (route.view === "sign-in" || route.view === "home" || route.view === "auth-callback");
  useEffect(() => {
    if (mustSignIn) {
      const here = `${location.pathname}${location.search}`;
      navigate(route.view === "home" ? "/sign-in" : `/sign-in?next=${encodeURIComponent(here)}`, {
        replace: true,
      });
    } else if (signedInOnSignIn) {
      navigate(homePath(session), { replace: true });
    }
  }, [mustSignIn, signedInOnSignIn, route.view, session]);

  const signIn = (next: Session, to: string | null = new URLSearchParams(location.search).get("next")) => {
    saveSession(next);
    setSession(next);
    setNotice(undefined);
    navigate(safeNext(to) ?? homePath(next), { replace: true });
  };

  const signOut = () => {
    // A decision still held for undo is sent now, while the token that made it is still here.
    decisions.flush();
    clearSession();
    setSession(undefined);
    setNotice("You signed out.");
    navigate("/sign-in");
    if (cognito) {
      // Managed login ends its own session too, then sends the browser back to a fresh copy of the page.
      keepNotice("You signed out.");
      void cognito.signOut();
    }
  };

  return (
    <>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="site-header">
        <span className="brand">Pixel Lab</span>
        {session ? (
          <>
            <nav aria-label="Main" className="main-nav">
              <ul>
                {session.roles.includes("seller") ? (
                  <li>
                    <Link href="/gallery" aria-current={route.view === "gallery" ? "page" : undefined}>
                      My products
                    </Link>
                  </li>
                ) : null}
                {session.roles.includes("seller") ? (
                  <li>
                    <Link
                      href="/new-products"
                      aria-current={route.view === "new-products" ? "page" : undefined}
                    >
                      New products
                    </Link>
                  </li>
                ) : null}
                {session.roles.includes("reviewer") ? (
                  <li>
                    <Link href="/queue" aria-current={route.view === "queue" ? "page" : undefined}>
                      Review queue
                    </Link>
                  </li>
                ) : null}
              </ul>
            </nav>
            <div className="user">
              <span>
                Signed in as <strong>{session.name}</strong> (
                {session.roles.map((role) => ROLE_LABEL[role]).join(", ") || "no role"})
              </span>
              <button type="button" onClick={signOut}>
                Sign out
              </button>
            </div>
          </>
        ) : null}
      </header>
      <main id="main" tabIndex={-1}>
        {!session || route.view === "sign-in" || route.view === "auth-callback" ? (
          <SignIn
            config={config}
            cognito={cognito}
            callback={route.view === "auth-callback"}
            notice={notice}
            onNotice={setNotice}
            onSignedIn={signIn}
          />
        ) : (
          <LiveProvider api={api} sessionKey={session.accessToken} pushUrl={config.pushUrl}>
            <Page route={route} session={session} api={api} config={config} />
          </LiveProvider>
        )}
      </main>
    </>
  );
};

const Forbidden = ({ children }: { children: ReactNode }) => (
  <>
    <PageHeading title="Not for this role">Not for this role</PageHeading>
    <p>{children}</p>
  </>
);

const Page = ({
  route,
  session,
  api,
  config,
}: {
  route: Route;
  session: Session;
  api: ReturnType<typeof createApi>;
  config: DashboardConfig;
}) => {
  switch (route.view) {
    case "gallery":
      return session.roles.includes("seller") ? (
        <Gallery api={api} status={route.status} />
      ) : (
        <Forbidden>
          Only sellers have products of their own. <Link href="/queue">Open the review queue</Link>.
        </Forbidden>
      );
    case "new-products":
      return session.roles.includes("seller") ? (
        <NewProducts api={api} maxUploadBytes={config.maxUploadBytes ?? MAX_UPLOAD_BYTES} />
      ) : (
        <Forbidden>
          Only sellers create products. <Link href="/queue">Open the review queue</Link>.
        </Forbidden>
      );
    case "queue":
      return session.roles.includes("reviewer") ? (
        <Queue key={`${route.category}|${route.seller}|${route.q}`} api={api} filters={route} />
      ) : (
        <Forbidden>
          The review queue is for reviewers. <Link href="/gallery">Open your products</Link>.
        </Forbidden>
      );
    case "product":
      return (
        <ProductPage
          key={route.id}
          api={api}
          id={route.id}
          session={session}
          maxUploadBytes={config.maxUploadBytes ?? MAX_UPLOAD_BYTES}
        />
      );
    case "not-found":
      return (
        <>
          <PageHeading title="Page not found">Page not found</PageHeading>
          <p>
            Nothing lives at <code>{route.path}</code>.{" "}
            <Link href={homePath(session)}>Go to your start page</Link>.
          </p>
        </>
      );
    default:
      return null;
  }
};
