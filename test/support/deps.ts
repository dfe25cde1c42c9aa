import { createObjectStore } from "../../lambdas/adapters/object-store.ts";
import { createProductRepository } from "../../lambdas/adapters/product-repository.ts";
import { createEnhanceQueue } from "../../lambdas/adapters/queue.ts";
import type { ApiDeps } from "../../lambdas/domain/products.ts";
import type { TestDatabase } from "./database.ts";
import type { TestEmulator } from "./emulator.ts";
import { testTokens } from "./identity.ts";

export const TEST_ASSETS_BASE_URL = "https://cdn.example.test";

/** The API's dependencies over a test database and emulator, as the Lambdas build them in production. */
export const testApiDeps = (
  database: TestDatabase,
  emulator: TestEmulator,
  settings: Partial<ApiDeps["settings"]> = {},
): ApiDeps => ({
  tokens: testTokens,
  repository: createProductRepository(database.db),
  objectStore: createObjectStore(emulator.s3),
  queue: createEnhanceQueue(emulator.sqs, emulator.queue.url),
  settings: {
    rawBucket: emulator.rawBucket,
    enhancedBucket: emulator.enhancedBucket,
    maxUploadBytes: 25 * 1024 * 1024,
    uploadUrlTtlSeconds: 900,
    assetsBaseUrl: TEST_ASSETS_BASE_URL,
    rawRetentionDays: 30,
    ...settings,
  },
  clock: () => new Date(),
});
