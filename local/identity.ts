import { randomUUID } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { resolve } from "node:path";
import type { Jwks } from "aws-jwt-verify/jwk";
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type JWK, SignJWT } from "jose";
import { LOCAL_IDENTITY, USER_GROUPS } from "../lambdas/names.ts";

/**
 * The local stack's token issuer: a signing key made on first start and kept in the state folder, its public
 * half served as a JWKS, and access tokens shaped like Cognito's (the same claims the handlers check), so
 * the one verifier module checks local tokens and Cognito's alike.
 */

/** RS256, as Cognito signs its tokens. */
const ALGORITHM = "RS256";
export const SIGNING_KEY_FILE = "token-signing-key.json";

export interface SigningKey {
  /** The private key as a JWK, with its `kid` (the RFC 7638 thumbprint) and `alg`. */
  privateJwk: JWK & { kid: string };
}

export const generateSigningKey = async (): Promise<SigningKey> => {
  const { privateKey } = await generateKeyPair(ALGORITHM, { extractable: true });
  const jwk = await exportJWK(privateKey);
  return { privateJwk: { ...jwk, alg: ALGORITHM, kid: await calculateJwkThumbprint(jwk) } };
};

/**
 * The key under the state folder, made on first use. Two processes starting at once (the stack and
 * `npm run token`) cannot both write it: the loser of the exclusive create reads the winner's key.
 */
export const loadOrCreateSigningKey = async (stateDir: string): Promise<SigningKey> => {
  const path = resolve(stateDir, SIGNING_KEY_FILE);
  try {
    return JSON.parse(await readFile(path, "utf8")) as SigningKey;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  const key = await generateSigningKey();
  try {
    await writeFile(path, `${JSON.stringify(key, null, 2)}\n`, { flag: "wx", mode: 0o600 });
    return key;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    return JSON.parse(await readFile(path, "utf8")) as SigningKey;
  }
};

/** The public half, as `/.well-known/jwks.json` serves it. */
export const publicJwks = (key: SigningKey): Jwks => {
  const { kty, n, e, kid } = key.privateJwk;
  if (kty !== "RSA" || !n || !e) throw new Error(`the signing key is not an ${ALGORITHM} key`);
  return { keys: [{ kty, n, e, kid, alg: ALGORITHM, use: "sig" }] };
};

export type LocalRole = "seller" | "reviewer";

export interface TokenRequest {
  /** The user: the token's `sub` and `username`, and so the seller id of the products they create. */
  name: string;
  roles: readonly LocalRole[];
  ttlSeconds?: number;
  /** Overrides, for tests of tokens that must be refused. */
  issuer?: string;
  clientId?: string;
  tokenUse?: string;
  now?: Date;
}

const GROUP_OF_ROLE: Record<LocalRole, string> = {
  seller: USER_GROUPS.sellers,
  reviewer: USER_GROUPS.reviewers,
};

export const LOCAL_USER_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;

/** An access token with the claims Cognito puts in one: `sub`, `username`, `cognito:groups`, `client_id`. */
export const mintAccessToken = async (key: SigningKey, request: TokenRequest): Promise<string> => {
  if (!LOCAL_USER_NAME.test(request.name)) {
    throw new Error(`'${request.name}' is not a user name: lowercase letters, digits, '.', '_' and '-'`);
  }
  const issuedAt = Math.floor((request.now ?? new Date()).getTime() / 1000);
  const { kid } = key.privateJwk;
  return new SignJWT({
    "cognito:groups": request.roles.map((role) => GROUP_OF_ROLE[role]),
    client_id: request.clientId ?? LOCAL_IDENTITY.clientId,
    token_use: request.tokenUse ?? "access",
    scope: "openid profile email",
    username: request.name,
    auth_time: issuedAt,
    jti: randomUUID(),
  })
    .setProtectedHeader({ alg: ALGORITHM, kid })
    .setSubject(request.name)
    .setIssuer(request.issuer ?? LOCAL_IDENTITY.issuer)
    .setIssuedAt(issuedAt)
    .setExpirationTime(issuedAt + (request.ttlSeconds ?? 3600))
    .sign(await importJWK(key.privateJwk, ALGORITHM));
};

/** A token from the local stack's own key (made if the stack has not run yet): what `npm run token` prints. */
export const mintLocalToken = async (stateDir: string, request: TokenRequest): Promise<string> => {
  await mkdir(stateDir, { recursive: true });
  return mintAccessToken(await loadOrCreateSigningKey(stateDir), request);
};
