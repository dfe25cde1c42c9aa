import { describe, expect, it } from "vitest";
import { parseDashboardConfig } from "../../web/src/dashboard-config.ts";
import { sessionFromToken } from "../../web/src/session.ts";

/** What a deployment writes (lib/stacks.ts), with the values CloudFormation puts in. */
const DEPLOYED = {
  apiUrl: "https://abc123.execute-api.eu-west-1.amazonaws.com/",
  signIn: "cognito",
  userPoolId: "eu-west-1_AbCdEf123",
  clientId: "4example0client0id",
  domainUrl: "https://pixel-lab-prod-login-123456789012.auth.eu-west-1.amazoncognito.com/",
  authority: "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123",
  maxUploadBytes: 26214400,
};

const without = (field: keyof typeof DEPLOYED) =>
  Object.fromEntries(Object.entries(DEPLOYED).filter(([name]) => name !== field));

describe("parseDashboardConfig", () => {
  it("reads a deployment's Cognito sign-in, trailing slashes dropped from the URLs it builds paths on", () => {
    expect(parseDashboardConfig(DEPLOYED)).toEqual({
      apiUrl: "https://abc123.execute-api.eu-west-1.amazonaws.com",
      signIn: "cognito",
      userPoolId: "eu-west-1_AbCdEf123",
      clientId: "4example0client0id",
      domainUrl: "https://pixel-lab-prod-login-123456789012.auth.eu-west-1.amazoncognito.com",
      authority: "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123",
      maxUploadBytes: 26214400,
    });
  });

  it("names each field Cognito sign-in needs and lacks", () => {
    expect(() => parseDashboardConfig(without("clientId"))).toThrow(
      'config.json: signIn "cognito" needs clientId',
    );
    expect(() => parseDashboardConfig(without("authority"))).toThrow(
      'config.json: signIn "cognito" needs authority',
    );
    expect(() =>
      parseDashboardConfig({ apiUrl: "", signIn: "cognito", userPoolId: DEPLOYED.userPoolId }),
    ).toThrow('config.json: signIn "cognito" needs clientId, domainUrl, authority');
  });

  it("refuses a managed-login or issuer URL that is plain http off this machine, or not a URL", () => {
    expect(() => parseDashboardConfig({ ...DEPLOYED, domainUrl: "http://login.example.com" })).toThrow(
      "config.json: domainUrl must be an https:// URL without query or fragment (http:// only for localhost)",
    );
    expect(() => parseDashboardConfig({ ...DEPLOYED, authority: "cognito-idp.eu-west-1" })).toThrow(
      "config.json: authority must be an https:// URL",
    );
    expect(() => parseDashboardConfig({ ...DEPLOYED, domainUrl: "https://login.example.com/?a=1" })).toThrow(
      "config.json: domainUrl must be",
    );
    expect(() => parseDashboardConfig({ ...DEPLOYED, authority: 42 })).toThrow(
      "config.json: authority must be text",
    );
  });

  it("takes a sign-in server on this machine over plain http (the browser test's)", () => {
    const config = parseDashboardConfig({
      ...DEPLOYED,
      domainUrl: "http://127.0.0.1:41234",
      authority: "http://127.0.0.1:41234",
    });
    expect(config.domainUrl).toBe("http://127.0.0.1:41234");
    expect(config.authority).toBe("http://127.0.0.1:41234");
  });

  it("needs none of them for the local development sign-in", () => {
    expect(parseDashboardConfig({ apiUrl: "", signIn: "local" })).toEqual({ apiUrl: "", signIn: "local" });
  });
});

const base64url = (value: object) => Buffer.from(JSON.stringify(value)).toString("base64url");
const token = (claims: object) => `${base64url({ alg: "RS256" })}.${base64url(claims)}.signature`;

describe("sessionFromToken", () => {
  const claims = {
    sub: "7c1e5b1a-0000-4000-8000-000000000001",
    username: "7c1e5b1a-0000-4000-8000-000000000001",
    "cognito:groups": ["sellers", "admins"],
    exp: 1_900_000_000,
  };

  it("reads the roles from the groups it knows and the expiry from exp", () => {
    const session = sessionFromToken(token(claims));
    expect(session.roles).toEqual(["seller"]);
    expect(session.expiresAt).toBe(new Date(1_900_000_000 * 1000).toISOString());
    expect(session.name).toBe(claims.username);
  });

  it("shows the id token's email instead of Cognito's generated user name when given one", () => {
    const session = sessionFromToken(token(claims), "alice@example.com");
    expect(session.name).toBe("alice@example.com");
    expect(session.displayName).toBe("alice@example.com");
  });
});
