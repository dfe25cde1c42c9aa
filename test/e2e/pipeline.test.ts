import { readFile } from "node:fs/promises";
import { HeadObjectCommand, S3Client } from "@aws-sdk/client-s3";
import {
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  SendMessageCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { distinctPhotos, runBurst } from "../../bench/burst.ts";
import { objectCreatedEvent } from "../../lambdas/domain/s3-events.ts";
import { BUCKETS, QUEUES, resourceName } from "../../lambdas/names.ts";
import { mintLocalToken } from "../../local/identity.ts";
import { type LocalStackProcess, startLocalStackProcess } from "../../local/stack-process.ts";
import { dropDatabaseAndAppUser, uniqueDatabaseUrl } from "../support/database.ts";
import { CORPUS, eventually, postUpload } from "../support/upload.ts";

/**
 * The whole pipeline through `npm start`'s code, touched over HTTP only: the API, presigned POSTs to
 * the emulated S3, the bridged notification, the queue, the worker and the image URLs.
 */
const MAX_UPLOAD_BYTES = 5 * 1024 * 1024;
const databaseUrl = uniqueDatabaseUrl("e2e");
let stack: LocalStackProcess;
/** The seller every product of this file belongs to, signed in with a token of the stack's own key. */
let sellerToken: string;

interface Ticket {
  url: string;
  fields: Record<string, string>;
  key: string;
}
interface Created {
  id: string;
  sku: string;
  status: string;
  created: boolean;
  upload: Ticket;
}

const api = async (method: string, path: string, body?: unknown) => {
  const response = await fetch(`${stack.apiUrl}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${sellerToken}`,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  // biome-ignore lint/suspicious/noExplicitAny: response bodies are what the assertions examine
  return { status: response.status, body: (await response.json()) as any };
};

const item = (sku: string, contentType = "image/jpeg") => ({
  sku,
  title: `E2E ${sku}`,
  category: "e2e",
  mrp: "100.00",
  price: "80.00",
  discount: "20",
  gst: "12",
  contentType,
});

/** The local stack's names: stage `local` (the default), as `lambdas/names.ts` spells them. */
const RAW_BUCKET = resourceName("local", BUCKETS.raw);
const ENHANCE_QUEUE = resourceName("local", QUEUES.enhance);

/** Clients of the stack's own emulator, at the address it printed, speaking S3 and SQS. */
const emulatorClients = () => {
  const endpoint = stack.emulatorUrl;
  const options = {
    region: "us-east-1",
    endpoint,
    credentials: { accessKeyId: "local", secretAccessKey: "local" },
  };
  const s3 = new S3Client({ ...options, forcePathStyle: true });
  const sqs = new SQSClient(options);
  return {
    s3,
    sqs,
    destroy() {
      s3.destroy();
      sqs.destroy();
    },
  };
};

const settled = (id: string) =>
  eventually(
    async () => {
      const { body } = await api("GET", `/products/${id}`);
      return ["pending_review", "failed"].includes(body.status) ? body : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 200, what: `product ${id} to settle` },
  );

beforeAll(async () => {
  stack = await startLocalStackProcess({
    DATABASE_URL: databaseUrl,
    MAX_UPLOAD_BYTES: String(MAX_UPLOAD_BYTES),
    LOCAL_VISIBILITY_TIMEOUT_SECONDS: "2",
  });
  sellerToken = await mintLocalToken(stack.dataDir, { name: "e2e-seller", roles: ["seller"] });
});

afterAll(async () => {
  const code = await stack?.stop();
  await dropDatabaseAndAppUser(databaseUrl);
  expect(code, `the local stack should stop cleanly on Ctrl-C:\n${stack?.output()}`).toBe(0);
});

describe("the local pipeline, end to end over HTTP", () => {
  it("reports every dependency healthy", async () => {
    const { status, body } = await api("GET", "/health");
    expect(status).toBe(200);
    expect(body.status).toBe("ok");
  });

  it("takes real photos from bulk creation to pending_review with the default variant set", async () => {
    // `standardSide`: STANDARDIZE's square invents no pixels: Amazon's 2000 px when the product fills it, else
    // its smallest side, 1000 px, the product enlarged 2× at most (box.png's 324 px product: a 762 px square).
    const photos = [
      { file: "LadyBird.jpg", type: "image/jpeg", longest: 2560, standardSide: 2000 },
      { file: "Wood.jpg", type: "image/jpeg", longest: 2560, standardSide: 2000 },
      { file: "chicky_512.png", type: "image/png", longest: 512, standardSide: 1000 },
      { file: "box.png", type: "image/png", longest: 324, standardSide: 762 },
      { file: "apple.jpg", type: "image/jpeg", longest: 512, standardSide: 1000 },
    ];
    const { status, body } = await api("POST", "/products", {
      products: photos.map((photo, index) => item(`E2E-PHOTO-${index}`, photo.type)),
    });
    expect(status).toBe(201);
    const products = body.products as Created[];
    expect(products.map((product) => product.status)).toEqual(photos.map(() => "pending"));

    await Promise.all(
      photos.map(async (photo, index) => {
        const posted = await postUpload(
          (products[index] as Created).upload,
          await readFile(`${CORPUS}${photo.file}`),
        );
        expect(posted.status).toBe(201);
      }),
    );

    for (const [index, photo] of photos.entries()) {
      const product = await settled((products[index] as Created).id);
      expect(product.status, `${photo.file}: ${product.statusReason}`).toBe("pending_review");
      const byVariant = new Map<
        string,
        { url: string; format: string; width: number; height: number; bytes: number }
      >(product.images.map((image: { variant: string }) => [image.variant, image]));
      expect([...byVariant.keys()].sort()).toEqual(["enhanced", "standard", "thumb", "web"]);
      expect(byVariant.get("standard"), photo.file).toMatchObject({
        format: "jpeg",
        width: photo.standardSide,
        height: photo.standardSide,
      });
      expect(byVariant.get("enhanced")).toMatchObject({ format: "jpeg" });
      expect(byVariant.get("web")).toMatchObject({ format: "webp" });
      expect(byVariant.get("thumb")).toMatchObject({ format: "webp" });

      for (const [variant, image] of byVariant) {
        const served = await fetch(image.url);
        expect(served.status, `${photo.file} ${variant}`).toBe(200);
        expect(served.headers.get("content-type")).toBe(
          image.format === "jpeg" ? "image/jpeg" : "image/webp",
        );
        const bytes = new Uint8Array(await served.arrayBuffer());
        expect(bytes.length).toBe(image.bytes);
        const metadata = await sharp(bytes).metadata();
        expect(metadata.format).toBe(image.format);
        expect([metadata.width, metadata.height]).toEqual([image.width, image.height]);
        expect(Math.max(metadata.width, metadata.height)).toBeLessThanOrEqual(2048);
        expect(metadata.space).toBe("srgb");
        expect(metadata.exif, `${photo.file} ${variant} carries EXIF`).toBeUndefined();
        expect(metadata.icc).toBeUndefined();
      }
      expect(byVariant.get("web")?.bytes).toBeLessThanOrEqual(200 * 1024);
      const thumb = byVariant.get("thumb");
      expect(Math.max(thumb?.width ?? 0, thumb?.height ?? 0)).toBe(Math.min(400, photo.longest));
      // The analysis describes the upload itself, and the compliance report names every amazon rule.
      expect(Math.max(product.analysis.width, product.analysis.height)).toBe(photo.longest);
      expect(
        product.analysis.compliance.amazon.rules.map((rule: { rule: string }) => rule.rule).sort(),
      ).toEqual(["file size", "format", "product fill", "size", "square", "white background"]);
    }

    // The translucent PNG: flattened on white in the JPEGs, its transparency kept in the WebP.
    const chicky = await settled((products[2] as Created).id);
    const imageOf = (variant: string) =>
      chicky.images.find((image: { variant: string }) => image.variant === variant);
    const standard = await sharp(new Uint8Array(await (await fetch(imageOf("standard").url)).arrayBuffer()))
      .raw()
      .toBuffer({ resolveWithObject: true });
    expect(standard.info.channels).toBe(3);
    expect([...standard.data.subarray(0, 3)]).toEqual([255, 255, 255]);
    const web = await sharp(new Uint8Array(await (await fetch(imageOf("web").url)).arrayBuffer())).metadata();
    expect(web.hasAlpha).toBe(true);
  });

  it("fails a text file sent as image/jpeg with a reason a seller can act on", async () => {
    const { body } = await api("POST", "/products", { products: [item("E2E-TEXT")] });
    const [product] = body.products as Created[];
    if (!product) throw new Error("no product");
    await postUpload(product.upload, new TextEncoder().encode("This is a shopping list, not a photo.\n"));
    const failed = await settled(product.id);
    expect(failed.status).toBe("failed");
    expect(failed.statusReason).toMatch(
      /^the upload is a text file \(declared as image\/jpeg\), not a JPEG, PNG/,
    );
    expect(failed.images).toEqual([]);
  });

  it("fails an upload over the size limit with a reason naming both sizes", async () => {
    const { body } = await api("POST", "/products", { products: [item("E2E-HUGE")] });
    const [product] = body.products as Created[];
    if (!product) throw new Error("no product");
    const elephants = await readFile(`${CORPUS}elephants-3840x2160.jpg`);
    // The emulator accepts what real S3 would refuse under the policy; the worker must catch it.
    expect((await postUpload(product.upload, elephants)).status).toBe(201);
    const failed = await settled(product.id);
    expect(failed.status).toBe("failed");
    expect(failed.statusReason).toContain("the photo is 8.09 MB; the limit is 5 MB");
  });

  it("processes one object once, however often its notification reaches the worker", async () => {
    const { body } = await api("POST", "/products", { products: [item("E2E-TWICE")] });
    const [product] = body.products as Created[];
    if (!product) throw new Error("no product");
    expect((await postUpload(product.upload, await readFile(`${CORPUS}orange.jpg`))).status).toBe(201);
    const first = await settled(product.id);
    expect(first.status).toBe("pending_review");
    // S3 may deliver one ObjectCreated event twice, as two SQS messages: send it twice more, straight to
    // the queue as S3 would (past the local bridge, which never re-sends what it has sent).
    const emulator = emulatorClients();
    const head = await emulator.s3.send(
      new HeadObjectCommand({ Bucket: RAW_BUCKET, Key: product.upload.key }),
    );
    const event = objectCreatedEvent({
      bucket: RAW_BUCKET,
      key: product.upload.key,
      bytes: head.ContentLength ?? 0,
      etag: (head.ETag ?? "").replace(/"/g, ""),
      region: "us-east-1",
    });
    const { QueueUrl } = await emulator.sqs.send(new GetQueueUrlCommand({ QueueName: ENHANCE_QUEUE }));
    for (const _ of [1, 2]) {
      await emulator.sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: JSON.stringify(event) }));
    }
    // Both reached the worker and were acknowledged: the queue is empty again.
    await eventually(
      async () => {
        const { Attributes = {} } = await emulator.sqs.send(
          new GetQueueAttributesCommand({
            QueueUrl,
            AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
          }),
        );
        return Number(Attributes.ApproximateNumberOfMessages) +
          Number(Attributes.ApproximateNumberOfMessagesNotVisible) ===
          0
          ? true
          : undefined;
      },
      { what: "the repeated notifications to be consumed" },
    );
    const after = (await api("GET", `/products/${product.id}`)).body;
    expect(after).toMatchObject({ status: "pending_review", sequence: 1, updatedAt: first.updatedAt });
    expect(after.images.map((image: { sequence: number }) => image.sequence)).toEqual([1, 1, 1, 1]);
    const history = (await api("GET", `/products/${product.id}/history`)).body.history as {
      event: string;
      toStatus: string | null;
    }[];
    expect(
      history.filter((entry) => entry.event === "status_changed").map((entry) => entry.toStatus),
    ).toEqual(["processing", "pending_review"]);
    emulator.destroy();
  });

  it("ends degenerate photos at once: a 1×1 pixel fails with its size, a blank frame reaches review", async () => {
    const { body } = await api("POST", "/products", {
      products: [item("E2E-SPECK", "image/png"), item("E2E-BLANK")],
    });
    const [speck, blank] = body.products as Created[];
    if (!speck || !blank) throw new Error("no products");
    const onePixel = await sharp({ create: { width: 1, height: 1, channels: 3, background: "#808080" } })
      .png()
      .toBuffer();
    const white = await sharp({ create: { width: 800, height: 600, channels: 3, background: "#ffffff" } })
      .jpeg()
      .toBuffer();
    expect((await postUpload(speck.upload, onePixel)).status).toBe(201);
    expect((await postUpload(blank.upload, white)).status).toBe(201);
    // A permanent failure, not a transient one retried until the last receive (whose reason would say so).
    expect(await settled(speck.id)).toMatchObject({
      status: "failed",
      statusReason: "the photo is 1×1 px; at least 16 px is needed on each side. Upload a larger photo",
    });
    const reviewed = await settled(blank.id);
    expect(reviewed.status).toBe("pending_review");
    expect(reviewed.images.map((image: { variant: string }) => image.variant).sort()).toEqual([
      "enhanced",
      "thumb",
      "web",
    ]);
    const history = (await api("GET", `/products/${blank.id}/history`)).body.history;
    expect(history).toContainEqual(
      expect.objectContaining({
        event: "variant_skipped",
        variant: "standard",
        error: "no product stands out from the background: the frame is one flat colour",
      }),
    );
  });

  it("takes a burst of photos to a settled state with no re-queue, no DLQ and no duplicate work", async () => {
    const samples = await Promise.all(
      ["mug.jpg", "bottle.png", "box-sideways.jpg"].map((name) =>
        readFile(new URL(`../../samples/${name}`, import.meta.url)),
      ),
    );
    const report = await runBurst({
      api: { url: stack.apiUrl, token: sellerToken },
      sqsEndpoint: stack.emulatorUrl,
      stage: "local",
      count: 12,
      photos: await distinctPhotos(samples, 12),
      uploadConcurrency: 12,
      timeoutMs: 120_000,
    });
    expect(report).toMatchObject({
      count: 12,
      outcomes: { pending_review: 12 },
      unsettled: 0,
      requeues: 0,
      superseded: 0,
      deadLetters: 0,
      duplicateWork: 0,
    });
    expect(report.waitSeconds.max).toBeLessThan(report.wallSeconds);
  });

  it("flags a re-encoded copy of another product's photo as its duplicate", async () => {
    const { body } = await api("POST", "/products", { products: [item("E2E-DUP-A"), item("E2E-DUP-B")] });
    const [first, second] = body.products as Created[];
    if (!first || !second) throw new Error("no products");
    const photo = await readFile(`${CORPUS}TwoWings.jpg`);
    await postUpload(first.upload, photo);
    await settled(first.id);
    const copy = await sharp(photo).resize(1280).jpeg({ quality: 70 }).toBuffer();
    await postUpload(second.upload, copy);
    const product = await settled(second.id);
    expect(product.status).toBe("pending_review");
    expect(product.duplicates).toEqual([
      expect.objectContaining({ product: expect.objectContaining({ id: first.id, sku: "E2E-DUP-A" }) }),
    ]);
    const listed = await api("GET", `/products/${second.id}/duplicates`);
    expect(listed.status).toBe(200);
    expect(listed.body.duplicates[0].pHashDistance).toBeLessThanOrEqual(5);
    // Both ways: the first product, processed before the copy existed, lists the copy now.
    expect((await api("GET", `/products/${first.id}/duplicates`)).body.duplicates).toEqual([
      expect.objectContaining({ product: expect.objectContaining({ id: second.id, sku: "E2E-DUP-B" }) }),
    ]);
  });

  it("re-enhances the latest original with a chosen mode, format and target size as a new sequence", async () => {
    const { body } = await api("POST", "/products", { products: [item("E2E-REENHANCE")] });
    const [product] = body.products as Created[];
    if (!product) throw new Error("no product");
    await postUpload(product.upload, await readFile(`${CORPUS}LadyBird.jpg`));
    const first = await settled(product.id);
    expect(first.sequence).toBe(1);

    const invalid = await api("POST", `/products/${product.id}/enhance`, { mode: "MAGIC", targetKb: 10 });
    expect(invalid.status).toBe(400);
    expect(invalid.body.error.details.map((detail: { path: string }) => detail.path).sort()).toEqual([
      "mode",
      "targetKb",
    ]);

    const accepted = await api("POST", `/products/${product.id}/enhance`, {
      mode: "OPTIMIZE",
      format: "webp",
      targetKb: 120,
    });
    expect(accepted.status).toBe(202);
    expect(accepted.body.variant).toMatchObject({
      name: "optimize",
      mode: "OPTIMIZE",
      format: "webp",
      targetKb: 120,
    });
    const second = await eventually(
      async () => {
        const current = (await api("GET", `/products/${product.id}`)).body;
        return current.sequence === 2 && current.status === "pending_review" ? current : undefined;
      },
      { timeoutMs: 60_000, what: "the re-enhanced sequence" },
    );
    expect(second.images).toEqual([
      expect.objectContaining({ variant: "optimize", format: "webp", sequence: 2 }),
    ]);
    expect(second.images[0].bytes).toBeLessThanOrEqual(120 * 1024);
    const history = (await api("GET", `/products/${product.id}/history`)).body.history as {
      sequence: number;
      event: string;
      toStatus: string | null;
      variant: string | null;
    }[];
    expect(
      history
        .filter((entry) => entry.event === "status_changed")
        .map((entry) => `${entry.sequence}:${entry.toStatus}`),
    ).toEqual(["1:processing", "1:pending_review", "2:processing", "2:pending_review"]);
    expect(
      history
        .filter((entry) => entry.sequence === 2 && entry.event === "variant_created")
        .map((entry) => entry.variant),
    ).toEqual(["optimize"]);
    const listed = await api("GET", "/products?status=pending_review&limit=100");
    const listedProduct = listed.body.products.find(
      (candidate: { id: string }) => candidate.id === product.id,
    );
    expect(listedProduct).toMatchObject({ sequence: 2, status: "pending_review" });
  });

  it("answers an invalid bulk request with 400 naming each field, and writes none of it", async () => {
    const invalid = await api("POST", "/products", {
      products: [
        item("E2E-VALID-1"),
        { ...item("E2E-BAD-1"), price: "120.00" },
        { ...item("E2E-BAD-2"), mrp: "-1" },
      ],
    });
    expect(invalid.status).toBe(400);
    expect(invalid.body.error.details.map((detail: { path: string }) => detail.path).sort()).toEqual([
      "products[1].price",
      "products[2].mrp",
    ]);
    // Had the valid item been written, this would return it with created: false.
    const retry = await api("POST", "/products", { products: [item("E2E-VALID-1")] });
    expect(retry.status).toBe(201);
    expect(retry.body.products[0].created).toBe(true);
  });
});
