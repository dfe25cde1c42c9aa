import { createTokenVerifier } from "../../lambdas/adapters/token-verifier.ts";
import type { Caller, Role } from "../../lambdas/domain/caller.ts";
import { LOCAL_IDENTITY } from "../../lambdas/names.ts";
import {
  generateSigningKey,
  type LocalRole,
  mintAccessToken,
  publicJwks,
  type TokenRequest,
} from "../../local/identity.ts";

/** One signing key per test process, as the local stack has one: tokens minted here verify against it. */
const key = await generateSigningKey();
const jwks = publicJwks(key);

export const testTokens = createTokenVerifier({ kind: "local", ...LOCAL_IDENTITY, jwks });

export const mintToken = (name: string, roles: readonly LocalRole[], overrides: Partial<TokenRequest> = {}) =>
  mintAccessToken(key, { name, roles, ...overrides });

/** The Authorization header of a user with these roles. */
export const authAs = async (name: string, ...roles: LocalRole[]): Promise<{ authorization: string }> => ({
  authorization: `Bearer ${await mintToken(name, roles)}`,
});

/** A verified caller, for tests that call the domain directly. */
export const callerAs = (name: string, ...roles: Role[]): Caller => ({
  id: name,
  name,
  roles: new Set(roles),
});

export const TEST_SELLER = callerAs("test-seller", "seller");
export const TEST_REVIEWER = callerAs("test-reviewer", "reviewer");
