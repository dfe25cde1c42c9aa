import {
  BadRequestException,
  DatabaseErrorException,
  RollbackTransactionCommand,
} from "@aws-sdk/client-rds-data";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { toNamedPlaceholders } from "../../lambdas/adapters/data-api-dialect.ts";
import { createMysqlDb, type Db, isDuplicateKeyError } from "../../lambdas/adapters/database.ts";
import {
  createDataApiTestClient,
  type DataApiFailure,
  type DataApiServer,
  TEST_CLUSTER_ARN,
  TEST_SECRET_ARN,
} from "../support/data-api-server.ts";
import { createTestDatabase, type DatabaseDriver, DRIVERS, type TestDatabase } from "../support/database.ts";

/** The error a promise rejects with (fails the test if it resolves). */
const rejectionOf = async (promise: Promise<unknown>): Promise<unknown> => {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected the statement to fail");
};

describe("placeholders", () => {
  it("numbers each ? outside strings, quoted identifiers and comments, in order", () => {
    expect(toNamedPlaceholders("select ? as a, `we?ird` from t where x = ? and y in (?, ?)")).toEqual({
      sql: "select :p0 as a, `we?ird` from t where x = :p1 and y in (:p2, :p3)",
      count: 4,
    });
    const text = `select 'it''s ?', 'a\\'?', "dq ?", \`b\`\`?\`, ? /* ? */ -- ?\n, ? # ?\n, ?--?`;
    expect(toNamedPlaceholders(text)).toEqual({
      sql: `select 'it''s ?', 'a\\'?', "dq ?", \`b\`\`?\`, :p0 /* ? */ -- ?\n, :p1 # ?\n, :p2--:p3`,
      count: 4,
    });
  });
});

describe("duplicate-key recognition", () => {
  it("reads the Data API's message, not its SQLState, which also covers other constraint violations", () => {
    const metadata = { $metadata: {} };
    const mysql8 = new DatabaseErrorException({
      ...metadata,
      message: "Duplicate entry 'MUG-1' for key 'products.uq_products_sku'; SQLState: 23000",
    });
    const serverlessV1 = new BadRequestException({
      ...metadata,
      message: "Duplicate entry 'MUG-1' for key 'uq_products_sku'",
    });
    const foreignKey = new DatabaseErrorException({
      ...metadata,
      message:
        "Cannot add or update a child row: a foreign key constraint fails (`db`.`product_images`); SQLState: 23000",
    });
    expect([mysql8, serverlessV1, foreignKey].map(isDuplicateKeyError)).toEqual([true, true, false]);
    expect(isDuplicateKeyError(new Error("Duplicate entry 'x' for key 'y'"))).toBe(false);
    expect(isDuplicateKeyError({ errno: 1062 })).toBe(true);
    expect(isDuplicateKeyError({ errno: 1452 })).toBe(false);
  });
});

/** A commit the database refuses (MySQL's ER_ERROR_DURING_COMMIT), as the Data API reports it. */
const COMMIT_REFUSED: DataApiFailure = {
  type: "DatabaseErrorException",
  status: 400,
  message: "Got error 149 - 'Lock deadlock; Retry transaction' during COMMIT; SQLState: HY000",
};

/** The service's answer to a result over 1 MiB (BadRequestException, HTTP 400). */
const RESPONSE_TOO_LARGE = "Database returned more than the allowed response size limit";
const ONE_MIB = 1024 * 1024;

describe("the Data API dialect against mysql2, on one database", () => {
  let database: TestDatabase;
  let mysql: Db;
  let dataApi: Db;
  const handles = (): [DatabaseDriver, Db][] => [
    ["mysql2", mysql],
    ["data-api", dataApi],
  ];
  const standIn = (): DataApiServer => {
    if (!database.dataApi) throw new Error("no Data API stand-in");
    return database.dataApi;
  };
  const probeRows = async (id: number) =>
    (await sql`SELECT id FROM tx_probe WHERE id = ${id}`.execute(mysql)).rows;
  /** The operations served since call `from`, each with the transaction id it named. */
  const servedSince = (from: number) =>
    standIn()
      .calls.slice(from)
      .map((call) => [call.operation, call.transactionId]);

  beforeAll(async () => {
    database = await createTestDatabase("dialect", { driver: "data-api", migrated: false, as: "admin" });
    dataApi = database.db;
    mysql = createMysqlDb(database.url);
    await sql`CREATE TABLE round_trip (
      id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
      driver VARCHAR(20) NOT NULL UNIQUE,
      at DATETIME(3) NULL,
      day DATE NULL,
      price DECIMAL(12, 2) NULL,
      meta JSON NULL,
      big BIGINT NULL,
      huge BIGINT NULL,
      count INT NULL,
      ratio DOUBLE NULL,
      flag TINYINT(1) NULL,
      code CHAR(3) NULL,
      note TEXT NULL,
      bytes BLOB NULL,
      nothing VARCHAR(10) NULL
    ) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci`.execute(mysql);
    await sql`CREATE TABLE tx_probe (
      id INT NOT NULL PRIMARY KEY,
      label VARCHAR(20) NOT NULL
    ) ENGINE = InnoDB`.execute(mysql);
  });
  afterAll(async () => {
    await mysql.destroy();
    await database.drop();
  });

  const at = new Date("2026-01-02T03:04:05.678Z");
  const note = `what? a:b ?:p0 :p1 'single' "double" \`tick\` back\\slash -- not a comment`;
  const meta = JSON.stringify({ sizes: [1, 2.5], label: "a?b:c", nested: { none: null } });

  it("reads back every type as mysql2 does, with `?` and `:` in values and a literal '?' in the SQL", async () => {
    const inserted: (bigint | undefined)[] = [];
    for (const [driver, db] of handles()) {
      const result = await sql`INSERT INTO round_trip
        (driver, at, day, price, meta, big, count, ratio, flag, code, note, bytes, nothing)
        VALUES (${driver}, ${at}, ${"2026-03-04"}, ${"99999999.99"}, ${meta}, ${9007199254740991},
                ${-42}, ${0.125}, ${true}, ${"abc"}, ${note}, ${Buffer.from([0, 1, 254, 255])}, ${null})`.execute(
        db,
      );
      expect(result.numAffectedRows).toBe(1n);
      inserted.push(result.insertId);
    }
    expect(inserted).toEqual([1n, 2n]);
    // Beyond 2^53: exact only if the integer never travels as a JSON number.
    await sql`UPDATE round_trip SET huge = 9007199254740993`.execute(mysql);

    const read = (db: Db) =>
      sql<Record<string, unknown>>`SELECT r.*, '?' AS literal_question, ':p0' AS literal_named,
          ${note} AS echoed, driver AS aliased, COUNT(*) OVER () AS total
        FROM round_trip r WHERE note = ${note} AND code <> '?' ORDER BY id`.execute(db);
    const viaMysql = (await read(mysql)).rows;
    const viaDataApi = (await read(dataApi)).rows;
    expect(viaDataApi).toEqual(viaMysql);
    expect(viaDataApi).toHaveLength(2);
    for (const [index, driver] of ["mysql2", "data-api"].entries()) {
      expect(viaDataApi[index]).toStrictEqual({
        id: index + 1,
        driver,
        at,
        day: new Date("2026-03-04T00:00:00.000Z"),
        price: "99999999.99",
        // mysql2 parses a JSON column (MariaDB marks its JSON alias in the column metadata); so does the dialect.
        meta: { sizes: [1, 2.5], label: "a?b:c", nested: { none: null } },
        big: 9007199254740991,
        huge: "9007199254740993",
        count: -42,
        ratio: 0.125,
        flag: 1,
        code: "abc",
        note,
        bytes: Buffer.from([0, 1, 254, 255]),
        nothing: null,
        literal_question: "?",
        literal_named: ":p0",
        echoed: note,
        aliased: driver,
        total: 2,
      });
    }
  });

  it("waits for a paused (0 ACU) cluster to resume instead of failing the statement or the transaction", async () => {
    const server = database.dataApi;
    if (!server) throw new Error("no Data API stand-in");
    const callsBefore = server.calls.length;
    server.pause(2);
    const rows = await sql<{ one: string }>`SELECT 1 AS one`.execute(dataApi);
    expect(rows.rows).toEqual([{ one: 1 }]);
    // Two paused answers were served, and the statement was sent again until it ran.
    expect(
      server.calls.slice(callsBefore).map((call) => `${call.operation}${call.paused ? " (paused)" : ""}`),
    ).toEqual(["Execute (paused)", "Execute (paused)", "Execute"]);
    server.pause(2);
    const inTransaction = await dataApi
      .transaction()
      .execute(async (trx) => (await sql<{ two: number }>`SELECT 2 AS two`.execute(trx)).rows);
    expect(inTransaction).toEqual([{ two: 2 }]);
  });

  it("reports the same affected rows for updates and deletes", async () => {
    for (const [, db] of handles()) {
      const touched = await sql`UPDATE round_trip SET count = count + 1 WHERE code = ${"abc"}`.execute(db);
      expect(touched.numAffectedRows).toBe(2n);
      const none = await sql`DELETE FROM round_trip WHERE code = ${"zzz"}`.execute(db);
      expect(none.numAffectedRows).toBe(0n);
    }
  });

  it("sends every statement of a transaction in it: unseen outside until commit, gone on rollback", async () => {
    const calls = database.dataApi?.calls ?? [];
    for (const [driver, db] of handles()) {
      const id = driver === "mysql2" ? 1 : 2;
      const outside = () =>
        sql<{ label: string }>`SELECT label FROM tx_probe WHERE id = ${id}`
          .execute(mysql)
          .then((r) => r.rows);
      const from = calls.length;
      await db.transaction().execute(async (trx) => {
        await sql`INSERT INTO tx_probe (id, label) VALUES (${id}, ${"committed"})`.execute(trx);
        const inside = await sql<{ label: string }>`SELECT label FROM tx_probe WHERE id = ${id}`.execute(trx);
        expect(inside.rows).toEqual([{ label: "committed" }]);
        expect(await outside()).toEqual([]);
      });
      expect(await outside()).toEqual([{ label: "committed" }]);

      await expect(
        db.transaction().execute(async (trx) => {
          await sql`UPDATE tx_probe SET label = ${"rolled back"} WHERE id = ${id}`.execute(trx);
          await sql`INSERT INTO tx_probe (id, label) VALUES (${id + 10}, ${"rolled back"})`.execute(trx);
          throw new Error("changed my mind");
        }),
      ).rejects.toThrow("changed my mind");
      expect(await outside()).toEqual([{ label: "committed" }]);
      expect((await sql`SELECT id FROM tx_probe WHERE id = ${id + 10}`.execute(mysql)).rows).toEqual([]);

      if (driver === "data-api") {
        const served = calls.slice(from);
        expect(served.map((call) => call.operation)).toEqual([
          "BeginTransaction",
          "Execute",
          "Execute",
          "CommitTransaction",
          "BeginTransaction",
          "Execute",
          "Execute",
          "RollbackTransaction",
        ]);
        const [first, second] = [served.slice(0, 4), served.slice(4)];
        for (const transaction of [first, second]) {
          const ids = new Set(transaction.slice(1).map((call) => call.transactionId));
          expect(ids.size).toBe(1);
          expect([...ids][0]).toEqual(expect.any(String));
        }
        expect(database.dataApi?.openTransactions()).toBe(0);
      }
    }
  });

  it("recognises a duplicate key from both drivers, and no other constraint violation", async () => {
    for (const [driver, db] of handles()) {
      const id = driver === "mysql2" ? 101 : 102;
      await sql`INSERT INTO tx_probe (id, label) VALUES (${id}, ${"first"})`.execute(db);
      const duplicate = await rejectionOf(
        sql`INSERT INTO tx_probe (id, label) VALUES (${id}, ${"again"})`.execute(db),
      );
      expect(isDuplicateKeyError(duplicate)).toBe(true);
      if (driver === "data-api") {
        expect(duplicate).toBeInstanceOf(DatabaseErrorException);
        expect((duplicate as Error).message).toBe(
          `Duplicate entry '${id}' for key 'PRIMARY'; SQLState: 23000`,
        );
      }
      // NOT NULL: SQLState 23000 as well, but not a duplicate.
      const notNull = await rejectionOf(
        sql`INSERT INTO tx_probe (id, label) VALUES (${id + 1}, ${null})`.execute(db),
      );
      expect(isDuplicateKeyError(notNull)).toBe(false);
      expect(String((notNull as Error).message)).toMatch(/cannot be null/);
    }
  });

  it("surfaces a refused commit as itself, after rolling that transaction back once", async () => {
    const server = standIn();
    const from = server.calls.length;
    server.failNext("CommitTransaction", COMMIT_REFUSED);
    const error = await rejectionOf(
      dataApi.transaction().execute(async (trx) => {
        await sql`INSERT INTO tx_probe (id, label) VALUES (${301}, ${"uncommitted"})`.execute(trx);
      }),
    );
    expect(error).toBeInstanceOf(DatabaseErrorException);
    expect(error).toMatchObject({
      name: COMMIT_REFUSED.type,
      message: COMMIT_REFUSED.message,
      $metadata: { httpStatusCode: COMMIT_REFUSED.status },
    });
    const transactionId = server.calls[from + 1]?.transactionId;
    expect(transactionId).toEqual(expect.any(String));
    expect(servedSince(from)).toEqual([
      ["BeginTransaction", undefined],
      ["Execute", transactionId],
      ["CommitTransaction", transactionId],
      ["RollbackTransaction", transactionId],
    ]);
    expect(await probeRows(301)).toEqual([]);
    expect(server.openTransactions()).toBe(0);
  });

  it("lets a controlled transaction's caller roll back after a refused commit without a second error", async () => {
    const server = standIn();
    const from = server.calls.length;
    server.failNext("CommitTransaction", COMMIT_REFUSED);
    const trx = await dataApi.startTransaction().execute();
    await sql`INSERT INTO tx_probe (id, label) VALUES (${302}, ${"uncommitted"})`.execute(trx);
    await expect(trx.commit().execute()).rejects.toMatchObject({
      name: COMMIT_REFUSED.type,
      message: COMMIT_REFUSED.message,
    });
    await trx.rollback().execute();
    expect(trx.isRolledBack).toBe(true);
    // The driver's own rollback is the only one: the caller's finds the transaction ended and sends nothing.
    expect(servedSince(from).map(([operation]) => operation)).toEqual([
      "BeginTransaction",
      "Execute",
      "CommitTransaction",
      "RollbackTransaction",
    ]);
    expect(await probeRows(302)).toEqual([]);
    expect(server.openTransactions()).toBe(0);
  });

  it("keeps the commit's error when the rollback after it fails too, and logs nothing", async () => {
    const server = standIn();
    const from = server.calls.length;
    server.failNext("CommitTransaction", COMMIT_REFUSED);
    server.failNext("RollbackTransaction", {
      type: "DatabaseErrorException",
      status: 400,
      message: "Lost connection to MySQL server during query; SQLState: HY000",
    });
    const consoles = (["log", "info", "warn", "error", "debug"] as const).map((level) =>
      vi.spyOn(console, level).mockImplementation(() => undefined),
    );
    const error = await rejectionOf(
      dataApi.transaction().execute(async (trx) => {
        await sql`INSERT INTO tx_probe (id, label) VALUES (${303}, ${"uncommitted"})`.execute(trx);
      }),
    ).finally(() => {
      for (const spy of consoles) spy.mockRestore();
    });
    expect(error).toMatchObject({ name: COMMIT_REFUSED.type, message: COMMIT_REFUSED.message });
    for (const spy of consoles) expect(spy).not.toHaveBeenCalled();
    const transactionId = server.calls[from + 1]?.transactionId;
    expect(servedSince(from).slice(2)).toEqual([
      ["CommitTransaction", transactionId],
      ["RollbackTransaction", transactionId],
    ]);
    // Still open on the service, as after any failed rollback, until its timeout; end it so its lock goes.
    expect(server.openTransactions()).toBe(1);
    const client = createDataApiTestClient(server.endpoint);
    await client.send(
      new RollbackTransactionCommand({
        resourceArn: TEST_CLUSTER_ARN,
        secretArn: TEST_SECRET_ARN,
        transactionId,
      }),
    );
    client.destroy();
    expect(await probeRows(303)).toEqual([]);
    expect(server.openTransactions()).toBe(0);
  });

  it("fails a result over the Data API's 1 MiB response limit as the service does, and passes one just under", async () => {
    await sql`CREATE TABLE bulk_probe (id INT NOT NULL PRIMARY KEY, filler TEXT NOT NULL)`.execute(mysql);
    // 64 rows of 16 KiB: the text alone is 1 MiB, so the whole answer is over it and 63 rows are just under.
    // Each row stays below the Data API's separate 64 KB row limit, as real rows would.
    const filler = "x".repeat(16 * 1024);
    const ids = Array.from({ length: 64 }, (_, index) => index + 1);
    await sql`INSERT INTO bulk_probe (id, filler) VALUES ${sql.join(ids.map((id) => sql`(${id}, ${filler})`))}`.execute(
      mysql,
    );
    const server = standIn();
    const selectAll = sql<{ id: number; filler: string }>`SELECT id, filler FROM bulk_probe ORDER BY id`;

    const tooLarge = await rejectionOf(selectAll.execute(dataApi));
    expect(tooLarge).toBeInstanceOf(BadRequestException);
    expect(tooLarge).toMatchObject({
      name: "BadRequestException",
      message: RESPONSE_TOO_LARGE,
      $metadata: { httpStatusCode: 400 },
    });
    expect(server.calls.at(-1)?.responseBytes).toBeGreaterThan(ONE_MIB);

    const inTransaction = await rejectionOf(dataApi.transaction().execute((trx) => selectAll.execute(trx)));
    expect(inTransaction).toMatchObject({ name: "BadRequestException", message: RESPONSE_TOO_LARGE });
    expect(server.openTransactions()).toBe(0);

    const justUnder = await sql<{
      id: number;
      filler: string;
    }>`SELECT id, filler FROM bulk_probe ORDER BY id LIMIT 63`.execute(dataApi);
    expect(justUnder.rows).toEqual(ids.slice(0, 63).map((id) => ({ id, filler })));
    const answered = server.calls.at(-1)?.responseBytes ?? 0;
    expect(answered).toBeLessThanOrEqual(ONE_MIB);
    expect(answered).toBeGreaterThan(ONE_MIB - filler.length);
  });

  it("surfaces a duplicate key inside a transaction as itself, with the transaction rolled back", async () => {
    for (const [driver, db] of handles()) {
      const id = driver === "mysql2" ? 201 : 202;
      const error = await rejectionOf(
        db.transaction().execute(async (trx) => {
          await sql`INSERT INTO tx_probe (id, label) VALUES (${id}, ${"once"})`.execute(trx);
          await sql`INSERT INTO tx_probe (id, label) VALUES (${id}, ${"twice"})`.execute(trx);
        }),
      );
      expect(isDuplicateKeyError(error)).toBe(true);
      expect((await sql`SELECT id FROM tx_probe WHERE id = ${id}`.execute(mysql)).rows).toEqual([]);
    }
    expect(database.dataApi?.openTransactions()).toBe(0);
  });
});

describe.each(DRIVERS)("query builder over %s", (driver) => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase("dialect_builder", { driver });
  });
  afterAll(async () => database.drop());

  it("runs Kysely's compiled MySQL unchanged and types the rows the repository reads", async () => {
    const now = new Date("2026-05-06T07:08:09.010Z");
    await database.db
      .insertInto("products")
      .values({
        id: "00000000-0000-0000-0000-000000000001",
        seller_id: "seller-?:1",
        status_changed_at: now,
        main_image: null,
        sku: "BUILDER-?:1",
        title: "A title with ? and :colon",
        category: "kitchen",
        mrp: "10.00",
        price: "9.99",
        discount: "0.10",
        gst: "18.00",
        status: "pending",
        status_reason: null,
        created_at: now,
        updated_at: now,
      })
      .execute();
    const row = await database.db
      .selectFrom("products")
      .select(["sku", "title", "price", "last_sequence", "version", "created_at", "status_reason"])
      .select((eb) => eb.fn.countAll<number>().over().as("n"))
      .where("sku", "in", ["BUILDER-?:1", "nope"])
      .executeTakeFirstOrThrow();
    expect(row).toStrictEqual({
      sku: "BUILDER-?:1",
      title: "A title with ? and :colon",
      price: "9.99",
      last_sequence: 0,
      version: 1,
      created_at: now,
      status_reason: null,
      n: 1,
    });
  });
});
