import { S3Client } from "@aws-sdk/client-s3";
import { describe, expect, it } from "vitest";
import { createObjectStore, createS3Client } from "../../lambdas/adapters/object-store.ts";

/**
 * The presigned GET is signed by hand (see `object-store.ts`): it must give, bit for bit, the URL of the worked
 * example in S3's reference for query-string authentication, and name the emulator's path-style address locally.
 */
describe("a presigned GET", () => {
  it("matches S3's worked example (GET examplebucket/test.txt, 24 May 2013, 86400 s)", async () => {
    // https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html, "An example".
    const s3 = new S3Client({
      region: "us-east-1",
      endpoint: "https://s3.amazonaws.com",
      credentials: {
        accessKeyId: "AKIAIOSFODNN7EXAMPLE",
        secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
      },
    });
    const url = await createObjectStore(s3).presignGet({
      bucket: "examplebucket",
      key: "test.txt",
      expiresInSeconds: 86400,
      signedAt: new Date("2013-05-24T00:00:00Z"),
    });
    expect(url).toBe(
      "https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256" +
        "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request" +
        "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host" +
        "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404",
    );
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
