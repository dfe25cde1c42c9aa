import { getSecret } from "@aws-lambda-powertools/parameters/secrets";

/**
 * The Gemini API key from Secrets Manager, read with Powertools' cached secret reader: once per cold start
 * (the cache outlives any invocation), so a key the operator replaces is picked up by new workers. A secret
 * that has no value yet (or still holds the stack's placeholder) is reported, not sent to Google.
 */
export const KEY_CACHE_SECONDS = 24 * 60 * 60;

/** What the stack puts in the secret until an operator sets the key. */
export const GEMINI_KEY_PLACEHOLDER = "unset";

export const readGeminiKey = async (secretArn: string): Promise<{ key: string } | { missing: string }> => {
  let value: unknown;
  try {
    value = await getSecret(secretArn, { maxAge: KEY_CACHE_SECONDS });
  } catch (error) {
    // Secrets Manager's answer for a secret created without a value: there is no AWSCURRENT version.
    if (error instanceof Error && /AWSCURRENT|can't find the specified secret value/i.test(error.message)) {
      return { missing: "the Gemini API key secret has no value yet" };
    }
    throw error;
  }
  const key = typeof value === "string" ? value.trim() : "";
  if (key === "" || key === GEMINI_KEY_PLACEHOLDER)
    return { missing: "the Gemini API key secret has no value yet" };
  return { key };
};
