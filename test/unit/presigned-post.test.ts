import { createHmac, randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { createObjectStore, createS3Client } from "../../lambdas/adapters/object-store.ts";

const hmac = (key: string | Buffer, data: string): Buffer => createHmac("sha256", key).update(data).digest();

interface Policy {
  expiration: string;
  conditions: unknown[];
}

describe("presigned POST", () => {
  // Presigning is local: the unreachable endpoint is never contacted.
  const store = createObjectStore(createS3Client({ region: "us-east-1", endpoint: "http://127.0.0.1:9" }));
  const key = `raw/${randomUUID()}/${randomUUID()}.jpg`;
  const presign = () =>
    store.presignPost({
      bucket: "b",
      key,
      contentType: "image/jpeg",
      maxBytes: 26214400,
      expiresInSeconds: 900,
    });

  it("posts to the bucket with the key and Content-Type as form fields", async () => {
    const { url, fields } = await presign();
    expect(url).toBe("http://127.0.0.1:9/b");
    expect(fields.key).toBe(key);
    expect(fields["Content-Type"]).toBe("image/jpeg");
    expect(fields.success_action_status).toBe("201");
    expect(fields["X-Amz-Algorithm"]).toBe("AWS4-HMAC-SHA256");
  });

  it("signs a policy that pins size, type, key and bucket, expiring in 900 s", async () => {
    const before = Date.now();
    const { fields } = await presign();
    const policy = JSON.parse(Buffer.from(fields.Policy ?? "", "base64").toString("utf8")) as Policy;

    expect(policy.conditions).toContainEqual(["content-length-range", 1, 26214400]);
    expect(policy.conditions).toContainEqual(["eq", "$Content-Type", "image/jpeg"]);
    expect(policy.conditions).toContainEqual({ key });
    expect(policy.conditions).toContainEqual({ bucket: "b" });
    // The key is exact: no starts-with condition lets the browser choose another key or Content-Type.
    expect(
      policy.conditions.filter((condition) => Array.isArray(condition) && condition[0] === "starts-with"),
    ).toEqual([]);
    // Each Content-Type condition names image/jpeg and nothing else.
    const contentTypes = policy.conditions.flatMap((condition) => {
      if (Array.isArray(condition)) return condition[1] === "$Content-Type" ? [condition[2]] : [];
      return Object.entries(condition as Record<string, unknown>)
        .filter(([name]) => name === "Content-Type")
        .map(([, value]) => value);
    });
    expect(new Set(contentTypes)).toEqual(new Set(["image/jpeg"]));

    const expiresAt = Date.parse(policy.expiration);
    expect(Number.isNaN(expiresAt)).toBe(false);
    expect(Math.abs(expiresAt - (before + 900_000))).toBeLessThanOrEqual(5_000);
  });

  it("signs the policy with SigV4 for the client's credentials and region", async () => {
    const { fields } = await presign();
    const credential = fields["X-Amz-Credential"] ?? "";
    const [accessKeyId, date, region, service, terminator] = credential.split("/");
    expect({ accessKeyId, region, service, terminator }).toEqual({
      accessKeyId: "local",
      region: "us-east-1",
      service: "s3",
      terminator: "aws4_request",
    });
    expect(date).toMatch(/^\d{8}$/);
    const signingKey = hmac(hmac(hmac(hmac("AWS4local", date ?? ""), "us-east-1"), "s3"), "aws4_request");
    expect(fields["X-Amz-Signature"]).toBe(
      createHmac("sha256", signingKey)
        .update(fields.Policy ?? "")
        .digest("hex"),
    );
  });
});
