/**
 * The few parts of oidc-provider 9 (which ships no types, and has no @types package of its version) that the
 * Cognito sign-in browser test uses.
 */
declare module "oidc-provider" {
  import type { IncomingMessage, ServerResponse } from "node:http";

  interface KoaContext {
    path: string;
    method: string;
    href: string;
    query: Record<string, string | string[] | undefined>;
    status: number;
    body: unknown;
    redirect(url: string): void;
    cookies: { set(name: string, value: string | null, options?: Record<string, unknown>): void };
    oidc: {
      client?: { clientId: string };
      session?: { accountId?: string; grantIdFor(clientId: string): string | undefined };
      result?: { consent?: { grantId?: string } };
      provider: Provider;
    };
  }

  interface Grant {
    addOIDCScope(scope: string): void;
    addResourceScope(resource: string, scope: string): void;
    save(): Promise<string>;
  }

  interface AccessTokenLike {
    accountId: string;
    clientId: string;
    kind: string;
  }

  export interface Configuration {
    clients?: Record<string, unknown>[];
    jwks?: { keys: Record<string, unknown>[] };
    cookies?: { keys: string[] };
    conformIdTokenClaims?: boolean;
    claims?: Record<string, string[]>;
    pkce?: { required?: () => boolean };
    findAccount?: (
      ctx: KoaContext,
      id: string,
    ) => Promise<{ accountId: string; claims: () => Promise<Record<string, unknown>> } | undefined>;
    loadExistingGrant?: (ctx: KoaContext) => Promise<Grant | undefined>;
    extraTokenClaims?: (
      ctx: KoaContext,
      token: AccessTokenLike,
    ) => Promise<Record<string, unknown> | undefined>;
    issueRefreshToken?: () => Promise<boolean>;
    clientBasedCORS?: (ctx: unknown, origin: string) => boolean;
    formats?: {
      customizers?: {
        jwt?: (
          ctx: KoaContext,
          token: AccessTokenLike,
          parts: { header: Record<string, unknown> | undefined; payload: Record<string, unknown> },
        ) => Promise<unknown>;
      };
    };
    features?: Record<string, unknown>;
    routes?: Record<string, string>;
    ttl?: Record<string, number | (() => number)>;
    renderError?: (ctx: KoaContext, out: Record<string, string>, error: Error) => Promise<void>;
  }

  export default class Provider {
    constructor(issuer: string, configuration: Configuration);
    readonly issuer: string;
    Grant: {
      new (properties: { clientId: string; accountId: string }): Grant;
      find(id: string): Promise<Grant | undefined>;
    };
    use(middleware: (ctx: KoaContext, next: () => Promise<void>) => Promise<void>): void;
    callback(): (request: IncomingMessage, response: ServerResponse) => void;
    cookieName(type: string): string;
    on(event: string, listener: (...args: unknown[]) => void): void;
  }
}
