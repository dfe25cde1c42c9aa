import { describe, expect, it } from "vitest";
import { loadConfig } from "../../lambdas/config.ts";

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
