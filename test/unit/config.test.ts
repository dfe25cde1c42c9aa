import { describe, expect, it } from "vitest";
import { configProblems, loadConfig } from "../../lambdas/config.ts";

const CLUSTER = "arn:aws:rds:eu-west-1:123456789012:cluster:pixel-lab-dev";
const SECRET = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:pixel-lab-dev-db-AbCdEf";

describe("database configuration", () => {
  it("uses mysql2 at DATABASE_URL unless a cluster ARN is set", () => {
    const config = loadConfig({});
    expect(config.dataApi).toBeUndefined();
    expect(config.databaseUrl).toBe("mysql://root@127.0.0.1:3306/pixel_lab");
  });

  it("takes the Data API when DATABASE_CLUSTER_ARN is set, the database defaulting to pixel_lab", () => {
    expect(loadConfig({ DATABASE_CLUSTER_ARN: CLUSTER, DATABASE_SECRET_ARN: SECRET }).dataApi).toEqual({
      resourceArn: CLUSTER,
      secretArn: SECRET,
      database: "pixel_lab",
      endpoint: undefined,
    });
    expect(
      loadConfig({
        DATABASE_CLUSTER_ARN: CLUSTER,
        DATABASE_SECRET_ARN: SECRET,
        DATABASE_NAME: "pixel_lab_dev",
        RDS_DATA_ENDPOINT: "http://127.0.0.1:4567",
      }).dataApi,
    ).toEqual({
      resourceArn: CLUSTER,
      secretArn: SECRET,
      database: "pixel_lab_dev",
      endpoint: "http://127.0.0.1:4567",
    });
  });

  it("names the variable that is missing or malformed", () => {
    expect(() => loadConfig({ DATABASE_CLUSTER_ARN: CLUSTER })).toThrow(
      "DATABASE_SECRET_ARN: required when DATABASE_CLUSTER_ARN is set",
    );
    expect(() => loadConfig({ DATABASE_CLUSTER_ARN: "pixel-lab-dev", DATABASE_SECRET_ARN: SECRET })).toThrow(
      "DATABASE_CLUSTER_ARN: must be an ARN",
    );
    expect(() => loadConfig({ DATABASE_NAME: "pixel-lab" })).toThrow("DATABASE_NAME:");
    expect(() => loadConfig({ RDS_DATA_ENDPOINT: "not a url" })).toThrow("RDS_DATA_ENDPOINT:");
  });
});

describe("ALLOWED_ORIGINS", () => {
  it("defaults to the local stack's own address", () => {
    expect(loadConfig({}).allowedOrigins).toEqual(["http://127.0.0.1:3000", "http://localhost:3000"]);
  });

  it("takes a comma-separated list of origins, in the form browsers send them", () => {
    expect(
      loadConfig({
        ALLOWED_ORIGINS:
          " https://Dashboard.Example.com , http://127.0.0.1:5173/,https://dashboard.example.com",
      }).allowedOrigins,
    ).toEqual(["https://dashboard.example.com", "http://127.0.0.1:5173"]);
  });

  it("refuses a wildcard, a path and what is no origin, naming the variable", () => {
    expect(() => loadConfig({ ALLOWED_ORIGINS: "*" })).toThrow(
      "ALLOWED_ORIGINS: '*': list the dashboard's origins instead of a wildcard",
    );
    expect(() => loadConfig({ ALLOWED_ORIGINS: "https://*.example.com" })).toThrow(
      /ALLOWED_ORIGINS: .*wildcard/,
    );
    expect(() => loadConfig({ ALLOWED_ORIGINS: "https://example.com/dashboard" })).toThrow(
      "ALLOWED_ORIGINS: 'https://example.com/dashboard' is not an origin: scheme://host[:port] only",
    );
    expect(() => loadConfig({ ALLOWED_ORIGINS: "dashboard.example.com" })).toThrow(
      "ALLOWED_ORIGINS: 'dashboard.example.com' is not an origin",
    );
    expect(() => loadConfig({ ALLOWED_ORIGINS: " , " })).toThrow(
      "ALLOWED_ORIGINS: must list at least one origin",
    );
  });
});

describe("Gemini configuration", () => {
  it("is off without a key, and takes the key from the environment or its secret", () => {
    expect(loadConfig({}).gemini.key).toBeUndefined();
    expect(loadConfig({ GEMINI_API_KEY: "k" }).gemini).toMatchObject({
      key: { kind: "value", value: "k" },
      analysisModel: "gemini-3.8-flash",
      imageModel: "gemini-3.1-flash-image",
      aiVariants: 3,
      budgetSeconds: 20,
      callTimeoutMs: 15_000,
      concurrency: 3,
    });
    const arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:pixel-lab-dev-gemini-api-key-AbCdEf";
    expect(loadConfig({ GEMINI_API_KEY_SECRET_ARN: arn }).gemini.key).toEqual({ kind: "secret", arn });
  });

  it("refuses a budget the worker's timeout cannot fit beside a photo, and more variants than there are prompts", () => {
    const problems = configProblems({
      GEMINI_BUDGET_SECONDS: "21",
      GEMINI_AI_VARIANTS: "4",
      GEMINI_CALL_TIMEOUT_MS: "10",
      GEMINI_IMAGE_MODEL: "Gemini Image!",
    });
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^GEMINI_BUDGET_SECONDS: must be at most 20 s/),
        expect.stringMatching(/^GEMINI_AI_VARIANTS: must be at most 3/),
        expect.stringMatching(/^GEMINI_CALL_TIMEOUT_MS: must be at least 1000 ms/),
        expect.stringMatching(/^GEMINI_IMAGE_MODEL: must be a model id/),
      ]),
    );
  });
});
