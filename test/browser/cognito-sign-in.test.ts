import { createHash } from "node:crypto";
import { mkdir, readFile, stat } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { extname, join, normalize, sep } from "node:path";
import AxeBuilder from "@axe-core/playwright";
import Provider, { type Configuration } from "oidc-provider";
import type { Browser, BrowserContext, Page, Request } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LOCAL_IDENTITY } from "../../lambdas/names.ts";
import { dashboardContentSecurityPolicy } from "../../lib/storage.ts";
import { loadOrCreateSigningKey } from "../../local/identity.ts";
import { type LocalStackProcess, startLocalStackProcess } from "../../local/stack-process.ts";
import { DASHBOARD_DIST, ensureDashboardBuilt } from "../../web/build.ts";
import { CALLBACK_PATH, type DashboardConfig } from "../../web/src/dashboard-config.ts";
import {
  AXE_TAGS,
  chromiumMissing,
  launchChromium,
  requireChromium,
  seriousViolations,
} from "../support/browser.ts";
import { dropDatabaseAndAppUser, uniqueDatabaseUrl } from "../support/database.ts";

/**
 * The dashboard's Cognito sign-in in a real browser, against a real OpenID Connect server started here
 * (oidc-provider) that plays managed login: Cognito's paths (`/oauth2/authorize`, `/oauth2/token`, and a
 * `/logout` that takes `client_id` and `logout_uri` as Cognito's does), a public client that must send a PKCE
 * challenge, a login form (oidc-provider's development one: any name and password), and access tokens shaped
 * like Cognito's (`token_use: access`, `client_id`, `cognito:groups`, `username`, `sub`).
 *
 * The page is the built dashboard served as CloudFront serves it: from its own origin, with the deployed
 * content security policy (`dashboardContentSecurityPolicy`, connect-src naming the API and the login server),
 * index.html for every page path, and a `config.json` written as a deployment writes it, `signIn: "cognito"`.
 * The API is `npm start`'s stack in a child process, on another origin (CORS), as API Gateway is.
 *
 * For the API to take the provider's tokens, the provider signs them with the local stack's own key (read
 * from the stack's state folder) and names the local issuer in their `iss`: the stack then checks them
 * exactly as it checks its own, with no new way in for tokens added to it for the sake of a test. Teaching
 * the stack to trust a second issuer would be a configuration a deployment never uses.
 */
const ARTIFACTS = new URL("./artifacts/", import.meta.url).pathname;
const VIEWPORTS = [
  { name: "desktop", width: 1280, height: 900, user: "alice", role: "seller", home: "/gallery" },
  { name: "phone", width: 390, height: 844, user: "rita", role: "reviewer", home: "/queue" },
] as const;
const GROUPS: Record<string, string[]> = { alice: ["sellers"], rita: ["reviewers"] };
/** The API as a resource server: oidc-provider issues JWT access tokens only for one. */
const API_RESOURCE = "urn:pixel-lab:api";
const SCOPES = "openid email profile";
/** Each step waits for a page load or a redirect: generous on a busy 2-core machine. */
const PATIENTLY = { timeout: 15_000 };
/** One test: several page loads, two trips to the login server, axe three times. */
const TEST_TIMEOUT = 120_000;

const databaseUrl = uniqueDatabaseUrl("cognito_sign_in");
let stack: LocalStackProcess;
let browser: Browser;
let dashboard: Server;
let dashboardOrigin: string;
let login: Server;
let loginOrigin: string;
/** How long the provider's access tokens last: the expiry tests shorten it. */
let accessTokenTtl = 3600;
/** Whether the provider issues a refresh token, as Cognito always does: the tests of expiry choose. */
let issueRefreshTokens = false;
/** Every `/logout` managed login was sent to. */
const logouts: URL[] = [];

const listen = async (server: Server): Promise<string> => {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
};

const close = (server: Server | undefined) =>
  new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
};

/** The built dashboard as S3 + CloudFront serve it: files, index.html for page paths, a deploy-time config.json. */
const serveDashboard = (config: () => DashboardConfig) =>
  createServer(async (request, response) => {
    const url = new URL(request.url ?? "/", "http://dashboard");
    if (url.pathname === "/config.json") {
      response.writeHead(200, { "content-type": "application/json", "cache-control": "no-cache" });
      response.end(JSON.stringify(config()));
      return;
    }
    const root = normalize(DASHBOARD_DIST);
    const wanted = normalize(join(root, decodeURIComponent(url.pathname)));
    const isFile = wanted.startsWith(root + sep) && (await stat(wanted).catch(() => undefined))?.isFile();
    // The CloudFront Function's rule: a path whose last segment has no extension is a page.
    const page = !isFile && extname(url.pathname) === "";
    if (!isFile && !page) {
      response.writeHead(404, { "content-type": "text/plain" });
      response.end("not found");
      return;
    }
    const path = isFile ? wanted : join(root, "index.html");
    response.writeHead(200, {
      "content-type": CONTENT_TYPES[extname(path)] ?? "application/octet-stream",
      "cache-control": "no-cache",
      "content-security-policy": dashboardContentSecurityPolicy([new URL(stack.apiUrl).origin, loginOrigin]),
    });
    response.end(await readFile(path));
  });

/** The fake managed login: a real OpenID Connect server on Cognito's paths, issuing Cognito-shaped tokens. */
const startLogin = async (privateJwk: Record<string, unknown>): Promise<void> => {
  login = createServer();
  loginOrigin = await listen(login);
  const configuration: Configuration = {
    clients: [
      {
        client_id: LOCAL_IDENTITY.clientId,
        token_endpoint_auth_method: "none",
        redirect_uris: [`${dashboardOrigin}${CALLBACK_PATH}`],
        grant_types: ["authorization_code", "refresh_token"],
        response_types: ["code"],
      },
    ],
    jwks: { keys: [privateJwk] },
    cookies: { keys: ["cognito-sign-in-test"] },
    // Public clients must send a PKCE challenge (oidc-provider's default for them, made explicit).
    pkce: { required: () => true },
    // Cognito puts the email in the id token.
    conformIdTokenClaims: false,
    claims: { openid: ["sub"], email: ["email", "email_verified"], profile: ["name"] },
    findAccount: async (_ctx, id) => ({
      accountId: id,
      claims: async () => ({ sub: id, email: `${id}@example.com`, email_verified: true, name: id }),
    }),
    // Managed login asks no consent of the pool's own app client: every sign-in is granted the client's scopes.
    loadExistingGrant: async (ctx) => {
      const { client, session, result, provider } = ctx.oidc;
      if (!client || !session?.accountId) return undefined;
      const existing = result?.consent?.grantId ?? session.grantIdFor(client.clientId);
      if (existing) return provider.Grant.find(existing);
      const grant = new provider.Grant({ clientId: client.clientId, accountId: session.accountId });
      grant.addOIDCScope(SCOPES);
      grant.addResourceScope(API_RESOURCE, SCOPES);
      await grant.save();
      return grant;
    },
    issueRefreshToken: async () => issueRefreshTokens,
    ttl: { Interaction: 600, Session: 3600, Grant: 3600, IdToken: 3600, RefreshToken: 3600 },
    clientBasedCORS: (_ctx: unknown, origin: string) => origin === dashboardOrigin,
    extraTokenClaims: async (_ctx, token) =>
      token.kind === "AccessToken"
        ? { token_use: "access", username: token.accountId, "cognito:groups": GROUPS[token.accountId] ?? [] }
        : undefined,
    formats: {
      customizers: {
        // The issuer the API trusts (see the comment at the top of this file).
        jwt: async (_ctx, _token, parts) => {
          parts.payload.iss = LOCAL_IDENTITY.issuer;
          return parts;
        },
      },
    },
    // Cognito's paths, so the page's endpoints are built exactly as for managed login.
    routes: { authorization: "/oauth2/authorize", token: "/oauth2/token", revocation: "/oauth2/revoke" },
    features: {
      devInteractions: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: async () => API_RESOURCE,
        useGrantedResource: async () => true,
        getResourceServerInfo: async () => ({
          scope: SCOPES,
          audience: API_RESOURCE,
          accessTokenFormat: "jwt",
          accessTokenTTL: accessTokenTtl,
          jwt: { sign: { alg: "RS256" } },
        }),
      },
    },
    renderError: async (ctx, out) => {
      ctx.body = `<!doctype html><title>error</title><pre>${JSON.stringify(out)}</pre>`;
    },
  };
  const provider = new Provider(loginOrigin, configuration);
  // Cognito's /logout is not OpenID Connect's: it takes the app client and a registered logout URL, ends the
  // login session and sends the browser there.
  provider.use(async (ctx, next) => {
    if (ctx.path !== "/logout") return next();
    logouts.push(new URL(ctx.href));
    const registered = `${dashboardOrigin}/`;
    if (ctx.query.client_id !== LOCAL_IDENTITY.clientId || ctx.query.logout_uri !== registered) {
      ctx.status = 400;
      ctx.body = "unknown client or logout_uri";
      return;
    }
    for (const name of [provider.cookieName("session"), `${provider.cookieName("session")}.sig`]) {
      ctx.cookies.set(name, null);
    }
    ctx.redirect(registered);
  });
  login.on("request", provider.callback());
};

/** Everything the page does that a user would call broken; `allow401` for the expiry test's refused token. */
const watch = (page: Page, { allow401 = false } = {}) => {
  const problems: string[] = [];
  page.on("console", (message) => {
    if (message.type() !== "error") return;
    if (allow401 && message.text().includes("status of 401")) return;
    problems.push(`console error: ${message.text()}`);
  });
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  page.on("requestfailed", (request) => {
    // Leaving the page for managed login cancels what it was still loading: the feed's call, the icon.
    const aborted = request.failure()?.errorText === "net::ERR_ABORTED";
    if (aborted && ["/changes", "/favicon.svg"].includes(new URL(request.url()).pathname)) return;
    problems.push(`request failed: ${request.method()} ${request.url()} (${request.failure()?.errorText})`);
  });
  page.on("response", (response) => {
    const status = response.status();
    if (status < 400 || (allow401 && status === 401 && response.url().startsWith(stack.apiUrl))) return;
    problems.push(`${status} for ${response.request().method()} ${response.url()}`);
  });
  return problems;
};

/** axe on the page as it is now: no serious or critical violation; then a full-page screenshot. */
const checkView = async (page: Page, viewport: string, view: string) => {
  await page.waitForLoadState("networkidle");
  const results = await new AxeBuilder({ page }).withTags(AXE_TAGS).analyze();
  const severe = seriousViolations(results);
  expect(severe, `axe on ${view} at ${viewport}`).toEqual([]);
  await page.screenshot({ path: `${ARTIFACTS}sign-in-cognito-${viewport}-${view}.png`, fullPage: true });
};

/** A context whose pages never reach the internet: the login form's stylesheet imports a web font. */
const newContext = async (viewport: { width: number; height: number }): Promise<BrowserContext> => {
  const context = await browser.newContext({ viewport });
  await context.route("https://fonts.googleapis.com/**", (route) =>
    route.fulfill({ status: 200, contentType: "text/css", body: "" }),
  );
  return context;
};

const heading = (page: Page) => page.getByRole("heading", { level: 1 }).textContent();

/** The dashboard's Sign in, then managed login's form: it answers the authorize request the page sent. */
const startSignIn = async (page: Page): Promise<URL> => {
  await expect.poll(() => heading(page), PATIENTLY).toBe("Sign in");
  const authorize = page.waitForRequest((request) =>
    request.url().startsWith(`${loginOrigin}/oauth2/authorize`),
  );
  await page.getByRole("button", { name: "Sign in" }).click();
  const url = new URL((await authorize).url());
  await page.locator("input[name=login]").waitFor();
  return url;
};

const fillLogin = async (page: Page, user: string) => {
  await page.locator("input[name=login]").fill(user);
  await page.locator("input[name=password]").fill("Any-password-1");
  await page.getByRole("button", { name: "Sign-in" }).click();
};

const sessionKeys = (page: Page) =>
  page.evaluate(() => {
    const { sessionStorage: storage } = globalThis as unknown as {
      sessionStorage: { length: number; key(index: number): string | null };
    };
    return Array.from({ length: storage.length }, (_, index) => storage.key(index));
  });

beforeAll(async () => {
  if (chromiumMissing) return;
  await mkdir(ARTIFACTS, { recursive: true });
  await ensureDashboardBuilt();
  // The page's origin first: the stack's CORS (API Gateway's, locally) must name it.
  dashboard = serveDashboard(() => ({
    apiUrl: stack.apiUrl,
    signIn: "cognito",
    clientId: LOCAL_IDENTITY.clientId,
    domainUrl: loginOrigin,
    authority: loginOrigin,
  }));
  dashboardOrigin = await listen(dashboard);
  stack = await startLocalStackProcess({ DATABASE_URL: databaseUrl, ALLOWED_ORIGINS: dashboardOrigin });
  // The key the stack made at start, which it verifies every token with.
  const key = await loadOrCreateSigningKey(stack.dataDir);
  await startLogin(key.privateJwk);
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await close(login);
  await close(dashboard);
  if (!stack) return;
  const code = await stack.stop();
  await dropDatabaseAndAppUser(databaseUrl);
  expect(code, `the local stack should stop cleanly on Ctrl-C:\n${stack.output()}`).toBe(0);
});

describe("Cognito sign-in (managed login, code flow with PKCE) in a browser", () => {
  for (const viewport of VIEWPORTS) {
    it(
      `signs a ${viewport.role} in and out through managed login at ${viewport.width} px`,
      async () => {
        requireChromium();
        const context = await newContext(viewport);
        const page = await context.newPage();
        const problems = watch(page);
        const tokenRequests: Request[] = [];
        page.on("request", (request) => {
          if (request.url() === `${loginOrigin}/oauth2/token`) tokenRequests.push(request);
        });

        // A page of the dashboard, signed out: the sign-in page, which remembers where the user was going.
        const wanted = viewport.role === "seller" ? "/gallery?status=pending_review" : "/queue?q=mug";
        await page.goto(`${dashboardOrigin}${wanted}`);
        await expect.poll(() => new URL(page.url()).pathname, PATIENTLY).toBe("/sign-in");
        await checkView(page, viewport.name, "sign-in");

        // Sign in: to managed login with a code request carrying an S256 PKCE challenge.
        const authorize = await startSignIn(page);
        expect(authorize.searchParams.get("response_type")).toBe("code");
        expect(authorize.searchParams.get("client_id")).toBe(LOCAL_IDENTITY.clientId);
        expect(authorize.searchParams.get("redirect_uri")).toBe(`${dashboardOrigin}${CALLBACK_PATH}`);
        expect(authorize.searchParams.get("scope")).toBe(SCOPES);
        expect(authorize.searchParams.get("code_challenge_method")).toBe("S256");
        const challenge = authorize.searchParams.get("code_challenge");
        expect(challenge).toMatch(/^[A-Za-z0-9_-]{43}$/);
        await page.screenshot({ path: `${ARTIFACTS}sign-in-cognito-${viewport.name}-managed-login.png` });
        const apiAnswer = page
          .waitForResponse(
            (response) =>
              response.url().startsWith(`${stack.apiUrl}/products`) && response.request().method() === "GET",
            PATIENTLY,
          )
          .then((response) => ({ response, at: Date.now() }));
        await fillLogin(page, viewport.user);
        const submitted = Date.now();

        // Back on the callback page, the code is exchanged with the verifier that hashes to that challenge.
        await expect
          .poll(() => `${new URL(page.url()).pathname}${new URL(page.url()).search}`, PATIENTLY)
          .toBe(wanted);
        expect(tokenRequests).toHaveLength(1);
        const form = new URLSearchParams(tokenRequests[0]?.postData() ?? "");
        expect(form.get("grant_type")).toBe("authorization_code");
        expect(form.get("client_id")).toBe(LOCAL_IDENTITY.clientId);
        expect(form.get("redirect_uri")).toBe(`${dashboardOrigin}${CALLBACK_PATH}`);
        const verifier = form.get("code_verifier") ?? "";
        expect(verifier.length).toBeGreaterThanOrEqual(43);
        expect(createHash("sha256").update(verifier).digest("base64url")).toBe(challenge);

        // The API answered the page with the provider's access token.
        const { response: answer, at } = await apiAnswer;
        expect(answer.status()).toBe(200);
        console.log(
          `managed login's form sent to the ${viewport.role}'s first API answer at ${viewport.width} px: ${at - submitted} ms`,
        );
        const bearer = (await answer.request().allHeaders()).authorization ?? "";
        const claims = JSON.parse(Buffer.from(bearer.split(".")[1] ?? "", "base64url").toString()) as Record<
          string,
          unknown
        >;
        expect(claims).toMatchObject({
          token_use: "access",
          client_id: LOCAL_IDENTITY.clientId,
          sub: viewport.user,
          username: viewport.user,
          "cognito:groups": GROUPS[viewport.user],
        });
        await expect
          .poll(() => page.locator(".user").textContent(), PATIENTLY)
          .toBe(`Signed in as ${viewport.user}@example.com (${viewport.role})Sign out`);
        await checkView(page, viewport.name, "signed-in");

        // Sign out: the session is gone from the tab and managed login's /logout ended its own.
        const before = logouts.length;
        // Managed login sends the browser back to a fresh copy of the dashboard, which still says why.
        const returned = page.waitForResponse(
          (response) => response.url() === `${dashboardOrigin}/`,
          PATIENTLY,
        );
        await page.getByRole("button", { name: "Sign out" }).click();
        expect((await returned).request().redirectedFrom()?.url()).toMatch(`${loginOrigin}/logout?`);
        expect(logouts).toHaveLength(before + 1);
        const logout = logouts.at(-1);
        expect(logout?.searchParams.get("client_id")).toBe(LOCAL_IDENTITY.clientId);
        expect(logout?.searchParams.get("logout_uri")).toBe(`${dashboardOrigin}/`);
        await expect.poll(() => new URL(page.url()).pathname, PATIENTLY).toBe("/sign-in");
        await expect
          .poll(() => page.getByRole("status").first().textContent(), PATIENTLY)
          .toBe("You signed out.");
        expect(await sessionKeys(page)).toEqual([]);
        await checkView(page, viewport.name, "signed-out");

        // Signing in again asks for the password again: managed login's session ended too.
        await startSignIn(page);
        expect(await page.locator("input[name=password]").isVisible()).toBe(true);

        expect(problems).toEqual([]);
        await context.close();
      },
      TEST_TIMEOUT,
    );

    it(
      `shows managed login's refusal on the sign-in page at ${viewport.width} px`,
      async () => {
        requireChromium();
        const context = await newContext(viewport);
        const page = await context.newPage();
        const problems = watch(page);
        await page.goto(`${dashboardOrigin}/sign-in`);
        await startSignIn(page);
        // oidc-provider's Cancel answers the authorize request with error=access_denied, as Cognito does.
        const callback = page.waitForRequest((request) =>
          request.url().startsWith(`${dashboardOrigin}${CALLBACK_PATH}`),
        );
        await page.getByRole("link", { name: "[ Cancel ]" }).click();
        expect(new URL((await callback).url()).searchParams.get("error")).toBe("access_denied");
        await expect.poll(() => new URL(page.url()).pathname, PATIENTLY).toBe("/sign-in");
        await expect
          .poll(() => page.getByRole("status").first().textContent(), PATIENTLY)
          .toBe("Sign-in did not complete: access was denied (End-User aborted interaction).");
        expect(await page.getByRole("button", { name: "Sign in" }).isEnabled()).toBe(true);
        await checkView(page, viewport.name, "access-denied");
        expect(problems).toEqual([]);
        await context.close();
      },
      TEST_TIMEOUT,
    );
  }

  it(
    "renews an expired access token with the refresh token and stays on the page",
    async () => {
      requireChromium();
      const viewport = VIEWPORTS[0];
      const context = await newContext(viewport);
      const page = await context.newPage();
      const problems = watch(page, { allow401: true });
      const grants: URLSearchParams[] = [];
      page.on("request", (request) => {
        if (request.url() === `${loginOrigin}/oauth2/token`)
          grants.push(new URLSearchParams(request.postData() ?? ""));
      });
      const bearers = new Set<string>();
      page.on("response", async (response) => {
        if (response.url().startsWith(stack.apiUrl) && response.status() === 200) {
          bearers.add((await response.request().allHeaders()).authorization ?? "");
        }
      });
      accessTokenTtl = 3;
      issueRefreshTokens = true;
      try {
        await page.goto(`${dashboardOrigin}/gallery`);
        await startSignIn(page);
        await fillLogin(page, viewport.user);
        await expect.poll(() => new URL(page.url()).pathname, PATIENTLY).toBe("/gallery");
        // The first refused call after expiry makes the page use its refresh token, and the call goes again.
        await expect
          .poll(() => grants.filter((grant) => grant.get("grant_type") === "refresh_token").length, {
            timeout: 15_000,
          })
          .toBeGreaterThan(0);
      } finally {
        accessTokenTtl = 3600;
        issueRefreshTokens = false;
      }
      const refresh = grants.find((grant) => grant.get("grant_type") === "refresh_token");
      expect(refresh?.get("client_id")).toBe(LOCAL_IDENTITY.clientId);
      expect(refresh?.get("refresh_token")).toBeTruthy();
      // Answered with the new token: two tokens have been accepted, and the user never left the gallery.
      await expect.poll(() => bearers.size, { timeout: 10_000 }).toBeGreaterThanOrEqual(2);
      expect(new URL(page.url()).pathname).toBe("/gallery");
      expect(await page.locator(".user").textContent()).toContain(`${viewport.user}@example.com`);
      expect(problems).toEqual([]);
      await context.close();
    },
    TEST_TIMEOUT,
  );

  it(
    "goes back to sign-in with the reason when the access token expires and there is no refresh token",
    async () => {
      requireChromium();
      const viewport = VIEWPORTS[0];
      const context = await newContext(viewport);
      const page = await context.newPage();
      const problems = watch(page, { allow401: true });
      const refused: string[] = [];
      page.on("response", (response) => {
        if (response.status() === 401) refused.push(new URL(response.url()).pathname);
      });
      accessTokenTtl = 3;
      try {
        await page.goto(`${dashboardOrigin}/gallery`);
        await startSignIn(page);
        await fillLogin(page, viewport.user);
        await expect.poll(() => new URL(page.url()).pathname, PATIENTLY).toBe("/gallery");
        await expect
          .poll(() => page.locator(".user").textContent(), PATIENTLY)
          .toContain(`${viewport.user}@example.com`);
      } finally {
        accessTokenTtl = 3600;
      }
      // The changes feed asks every second: its first call after expiry is refused, and no refresh is tried.
      await expect.poll(() => new URL(page.url()).pathname, PATIENTLY).toBe("/sign-in");
      await expect
        .poll(() => page.getByRole("status").first().textContent(), PATIENTLY)
        .toBe("You were signed out: the token has expired; sign in again.");
      expect(refused.length).toBeGreaterThan(0);
      // Neither the dashboard's session nor the sign-in library's tokens stay in the tab.
      expect(await sessionKeys(page)).toEqual([]);
      await checkView(page, viewport.name, "expired");
      expect(problems).toEqual([]);
      await context.close();
    },
    TEST_TIMEOUT,
  );
});
