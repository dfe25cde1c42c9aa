import { CognitoJwtVerifier, JwtVerifier } from "aws-jwt-verify";
import { validateCognitoJwtFields } from "aws-jwt-verify/cognito-verifier";
import {
  CognitoJwtInvalidClientIdError,
  CognitoJwtInvalidTokenUseError,
  FetchError,
  JwtBaseError,
  JwtExpiredError,
  JwtInvalidAudienceError,
  JwtInvalidIssuerError,
  JwtNotBeforeError,
  JwtParseError,
} from "aws-jwt-verify/error";
import { type Jwks, SimpleJwksCache } from "aws-jwt-verify/jwk";
import type { JwtPayload } from "aws-jwt-verify/jwt-model";
import type { Caller, Role } from "../domain/caller.ts";
import { AppError } from "../domain/errors.ts";
import { ENV, USER_GROUPS } from "../names.ts";

/** Checks a bearer token and says who sent it, or throws `UNAUTHORIZED` naming what is wrong with it. */
export interface TokenVerifier {
  verify(token: string): Promise<Caller>;
}

/** Where tokens come from: a Cognito user pool (AWS), or the local stack's own signing key. */
export type IdentityConfig =
  | { kind: "cognito"; userPoolId: string; clientId: string }
  | { kind: "local"; issuer: string; clientId: string; jwks: Jwks };

const ROLE_OF_GROUP: Record<string, Role> = {
  [USER_GROUPS.sellers]: "seller",
  [USER_GROUPS.reviewers]: "reviewer",
};

/**
 * The caller a verified access token names. The groups are read from the token itself: API Gateway hands the
 * Lambda its claims with `cognito:groups` flattened into one string, which cannot be split safely.
 */
const callerFrom = (payload: JwtPayload): Caller => {
  const groups = payload["cognito:groups"];
  const roles = new Set<Role>(
    (Array.isArray(groups) ? groups : []).flatMap((group) => {
      const role = typeof group === "string" ? ROLE_OF_GROUP[group] : undefined;
      return role ? [role] : [];
    }),
  );
  const subject = payload.sub;
  if (typeof subject !== "string" || subject.length === 0) {
    throw new AppError("UNAUTHORIZED", "the token names no subject (sub)");
  }
  const username = payload.username;
  return {
    id: subject,
    name: typeof username === "string" && username ? username : subject,
    roles,
    ...(typeof payload.exp === "number" ? { expiresAt: new Date(payload.exp * 1000) } : {}),
  };
};

/** What a client can do about a token the verifier refused; the token itself is never echoed. */
const refusal = (error: JwtBaseError): AppError => {
  const because = (message: string) => new AppError("UNAUTHORIZED", message);
  if (error instanceof JwtExpiredError) return because("the token has expired; sign in again");
  if (error instanceof JwtNotBeforeError) return because("the token is not valid yet");
  if (error instanceof JwtParseError) return because("the bearer token is not a JWT");
  if (error instanceof JwtInvalidIssuerError)
    return because("the token was not issued by this API's user pool");
  if (error instanceof CognitoJwtInvalidClientIdError || error instanceof JwtInvalidAudienceError) {
    return because("the token was issued to another app client");
  }
  if (error instanceof CognitoJwtInvalidTokenUseError) {
    return because("send an access token (token_use: access), not an id token");
  }
  return because("the token's signature does not verify with this API's keys");
};

const verifying =
  (verify: (token: string) => Promise<JwtPayload>): TokenVerifier["verify"] =>
  async (token) => {
    let payload: JwtPayload;
    try {
      payload = await verify(token);
    } catch (error) {
      // The user pool's keys could not be fetched: our outage, not the caller's bad token.
      if (error instanceof FetchError || !(error instanceof JwtBaseError)) throw error;
      throw refusal(error);
    }
    return callerFrom(payload);
  };

/** Verifies Cognito access tokens of the pool and app client, fetching (and caching) the pool's JWKS. */
const cognitoVerifier = (config: { userPoolId: string; clientId: string }): TokenVerifier => {
  const verifier = CognitoJwtVerifier.create({
    userPoolId: config.userPoolId,
    tokenUse: "access",
    clientId: config.clientId,
  });
  return { verify: verifying((token) => verifier.verify(token)) };
};

/**
 * Verifies the local stack's tokens with the same library and the same Cognito claim checks. aws-jwt-verify
 * will not fetch keys over plain http, so the key set is handed to it; its "fetcher" answers with the same
 * set, so a token signed by an unknown key is refused without any request leaving the process.
 */
const localVerifier = (config: { issuer: string; clientId: string; jwks: Jwks }): TokenVerifier => {
  const jwksBytes = new TextEncoder().encode(JSON.stringify(config.jwks));
  const verifier = JwtVerifier.create(
    {
      issuer: config.issuer,
      audience: null,
      jwksUri: `${config.issuer}/jwks.json`,
      customJwtCheck: ({ payload }) =>
        validateCognitoJwtFields(payload, { tokenUse: "access", clientId: config.clientId }),
    },
    { jwksCache: new SimpleJwksCache({ fetcher: { fetch: async () => jwksBytes.slice().buffer } }) },
  );
  verifier.cacheJwks(config.jwks);
  return { verify: verifying((token) => verifier.verify(token)) };
};

export const createTokenVerifier = (config: IdentityConfig | undefined): TokenVerifier => {
  if (config?.kind === "cognito") return cognitoVerifier(config);
  if (config?.kind === "local") return localVerifier(config);
  return {
    verify: async () => {
      // A deployment mistake, logged as one (500): no token could ever be accepted.
      throw new Error(
        `sign-in is not configured: set ${ENV.userPoolId} and ${ENV.userPoolClientId}, or ${ENV.localJwks} for the local stack`,
      );
    },
  };
};
