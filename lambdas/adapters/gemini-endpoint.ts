/**
 * Where the Gemini API is, and a probe of it, free of the SDK: the health check carries neither the SDK nor
 * the key in its bundle.
 */
export const GOOGLE_BASE_URL = "https://generativelanguage.googleapis.com";

/**
 * Pinned: Google's REST reference documents image output and JSON schemas under v1beta, and SDK 3.x
 * would otherwise call v1.
 */
export const API_VERSION = "v1beta";

/**
 * Whether the Gemini API answers, for the health check (which holds no key): a keyless GET of the model's
 * description. Google answers 403 without a key; any HTTP answer at all means reachable.
 */
export const probeGemini = async (input: {
  baseUrl?: string | undefined;
  model: string;
  timeoutMs: number;
}): Promise<"reachable" | "unreachable"> => {
  const base = (input.baseUrl ?? GOOGLE_BASE_URL).replace(/\/+$/, "");
  const model = encodeURIComponent(input.model.replace(/^models\//, ""));
  try {
    const response = await fetch(`${base}/${API_VERSION}/models/${model}`, {
      signal: AbortSignal.timeout(input.timeoutMs),
    });
    // The body is not needed: release the connection.
    await response.body?.cancel();
    return "reachable";
  } catch {
    return "unreachable";
  }
};
