import { DescribeSecretCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import type { AiStatus } from "../domain/ports.ts";
import { probeGemini } from "./gemini-endpoint.ts";

export interface GeminiStatusConfig {
  key: { kind: "value"; value: string } | { kind: "secret"; arn: string } | undefined;
  baseUrl: string | undefined;
  analysisModel: string;
  region: string;
}

/**
 * `/health`'s view of Gemini. The health function may not read the key: in AWS it asks Secrets Manager only
 * whether the secret has a current value (DescribeSecret), then whether the Gemini API answers at all (a model
 * lookup with no key, which spends nothing).
 */
export const createGeminiStatus = (config: GeminiStatusConfig): AiStatus => {
  const secrets =
    config.key?.kind === "secret" ? new SecretsManagerClient({ region: config.region }) : undefined;
  const hasKey = async (): Promise<boolean> => {
    if (!config.key) return false;
    if (config.key.kind === "value") return true;
    const described = await secrets?.send(new DescribeSecretCommand({ SecretId: config.key.arn }));
    return Object.values(described?.VersionIdsToStages ?? {}).some((stages) => stages.includes("AWSCURRENT"));
  };
  return {
    async check(timeoutMs) {
      if (!(await hasKey())) return "not_configured";
      return probeGemini({
        ...(config.baseUrl ? { baseUrl: config.baseUrl } : {}),
        model: config.analysisModel,
        timeoutMs,
      });
    },
  };
};
