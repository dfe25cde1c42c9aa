import { S3Client } from "@aws-sdk/client-s3";
import { describe, expect, it } from "vitest";
import { createObjectStore, createS3Client } from "../../lambdas/adapters/object-store.ts";

/**
 * The presigned GET of a product's original (`@aws-sdk/s3-request-presigner`): signed as of the time it is given,
 * so one step's URLs are the same (the browser's cache holds), for the time asked, on the address browsers reach.
 */
describe("a presigned GET", () => {
  it("is signed as of the time given, for the time given, and is the same URL for the same time", async () => {
    const s3 = new S3Client({
      region: "us-east-1",
      credentials: {
        accessKeyId: "AKIAIOSFODNN7EXAMPLE",
        secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
      },
    });
    const store = createObjectStore(s3);
    const presign = (signedAt: Date) =>
      store.presignGet({ bucket: "examplebucket", key: "test.txt", expiresInSeconds: 86400, signedAt });
    const url = new URL(await presign(new Date("2013-05-24T00:00:00Z")));
    expect(url.origin).toBe("https://examplebucket.s3.us-east-1.amazonaws.com");
    expect(url.pathname).toBe("/test.txt");
    expect(url.searchParams.get("X-Amz-Algorithm")).toBe("AWS4-HMAC-SHA256");
    expect(url.searchParams.get("X-Amz-Credential")).toBe(
      "AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request",
    );
    expect(url.searchParams.get("X-Amz-Date")).toBe("20130524T000000Z");
    expect(url.searchParams.get("X-Amz-Expires")).toBe("86400");
    expect(url.searchParams.get("X-Amz-SignedHeaders")).toBe("host");
    expect(url.searchParams.get("X-Amz-Signature")).toMatch(/^[0-9a-f]{64}$/);
    expect(await presign(new Date("2013-05-24T00:00:00Z"))).toBe(url.toString());
    expect(await presign(new Date("2013-05-24T00:05:00Z"))).not.toBe(url.toString());
  });

  it("uses the regional virtual-hosted address in AWS and the public client's path-style one locally", async () => {
    const inAws = createObjectStore(
      new S3Client({ region: "ap-south-1", credentials: { accessKeyId: "a", secretAccessKey: "b" } }),
    );
    const aws = new URL(
      await inAws.presignGet({
        bucket: "raw-1",
        key: "raw/p/u.jpg",
        expiresInSeconds: 900,
        signedAt: new Date(),
      }),
    );
    expect(aws.origin).toBe("https://raw-1.s3.ap-south-1.amazonaws.com");
    expect(aws.pathname).toBe("/raw/p/u.jpg");
    const local = createObjectStore(
      createS3Client({ region: "us-east-1", endpoint: "http://127.0.0.1:9" }),
      createS3Client({ region: "us-east-1", endpoint: "http://127.0.0.1:4567" }),
    );
    const front = new URL(
      await local.presignGet({
        bucket: "raw",
        key: "raw/p/a b.jpg",
        expiresInSeconds: 900,
        signedAt: new Date(),
      }),
    );
    expect(front.origin).toBe("http://127.0.0.1:4567");
    expect(front.pathname).toBe("/raw/raw/p/a%20b.jpg");
    expect(front.searchParams.get("X-Amz-Expires")).toBe("900");
    expect(front.searchParams.get("X-Amz-SignedHeaders")).toBe("host");
  });
});
