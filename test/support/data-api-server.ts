/**
 * A local stand-in for the RDS Data API, for tests: no installable emulator exists. The real
 * `RDSDataClient` talks to it over HTTP (`endpoint`), and it runs the statements on the MariaDB test
 * server through mysql2. It serves the four REST-JSON operations the dialect uses, with the paths and
 * bodies of `@aws-sdk/client-rds-data`'s schema (`POST /Execute`, `/BeginTransaction`,
 * `/CommitTransaction`, `/RollbackTransaction`), and answers as the service does for Aurora MySQL:
 *  - records as typed fields by column type, with the `typeName`s Aurora MySQL reports (a MariaDB JSON
 *    column, LONGTEXT underneath, is reported as JSON, as MySQL 8 would); DATETIME/DATE as text, DECIMAL as
 *    text, integers as `longValue` (text with `longReturnType: "STRING"`), NULL as `isNull`;
 *  - a refused statement as HTTP 400 `DatabaseErrorException` whose message is the server's text and its
 *    SQLState (`Duplicate entry 'x' for key 'PRIMARY'; SQLState: 23000`), the error type in the
 *    `x-amzn-ErrorType` header as AWS REST-JSON services send it;
 *  - one dedicated connection per transaction id; a statement that fails inside a transaction ends it
 *    (rolled back), after which the id is unknown (`TransactionNotFoundException`, 404), as the service's
 *    troubleshooting guide describes ("Transaction has been aborted due to an error from a previous call");
 *    a second statement while one runs in the same transaction is refused ("Transaction is still running a
 *    query");
 *  - a result whose response would be larger than 1 MiB as HTTP 400 `BadRequestException` "Database returned
 *    more than the allowed response size limit" (the service's limit: "The response size limit is 1 MiB. If the
 *    call returns more than 1 MiB of response data, the call is terminated", Aurora User Guide, Data API
 *    limitations; the message is the one drivers match on, e.g. aurora-data-api's paginating cursor). It
 *    measures the JSON body it would send, the strict reading of "response data", so a result near the limit
 *    fails here first; inside a transaction the refusal ends the transaction, as any failed statement does.
 * A test can make the next call of an operation fail (`failNext`) as the service reports errors; the call is
 * recorded, and a failed CommitTransaction leaves its transaction open, as a commit the database refused does.
 * What it does not do: authentication (any signature passes), timeouts, BatchExecuteStatement, arrays, the
 * 64 KB limit on one row of a result.
 * Parameters are bound by mysql2's `namedPlaceholders`, which does not look inside backquoted identifiers.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { RDSDataClient } from "@aws-sdk/client-rds-data";
import {
  createPool,
  type FieldPacket,
  type Pool,
  type PoolConnection,
  type ResultSetHeader,
} from "mysql2/promise";

interface WireField {
  isNull?: boolean;
  booleanValue?: boolean;
  longValue?: number;
  doubleValue?: number;
  stringValue?: string;
  /** base64 */
  blobValue?: string;
}

interface RequestBody {
  resourceArn?: string;
  secretArn?: string;
  database?: string;
  sql?: string;
  parameters?: { name?: string; value?: WireField; typeHint?: string }[];
  transactionId?: string;
  includeResultMetadata?: boolean;
  resultSetOptions?: { decimalReturnType?: string; longReturnType?: string };
}

/** An error as the service reports it: HTTP status, `x-amzn-ErrorType` and `{"message"}`. */
class ServiceError extends Error {
  readonly type: string;
  readonly status: number;
  constructor(type: string, status: number, message: string) {
    super(message);
    this.type = type;
    this.status = status;
  }
}

const badRequest = (message: string) => new ServiceError("BadRequestException", 400, message);

/** The most response data one call may return: https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/data-api.limitations.html */
export const RESPONSE_SIZE_LIMIT_BYTES = 1024 * 1024;
const RESPONSE_TOO_LARGE_MESSAGE = "Database returned more than the allowed response size limit";

const transactionNotFound = (id: string) =>
  new ServiceError("TransactionNotFoundException", 404, `Transaction ${id} isn't found`);

/** A statement MySQL refused: its text and SQLState, as the Data API words it. */
const databaseError = (error: unknown): ServiceError => {
  if (typeof error === "object" && error !== null && "sqlState" in error && "sqlMessage" in error) {
    return new ServiceError(
      "DatabaseErrorException",
      400,
      `${String(error.sqlMessage)}; SQLState: ${String(error.sqlState)}`,
    );
  }
  return new ServiceError("InternalServerErrorException", 500, String(error));
};

const UNSIGNED_FLAG = 32;
const BINARY_CHARSET = 63;

/** The type name Aurora MySQL reports for a column mysql2 describes. */
const typeNameOf = (field: FieldPacket): string => {
  const binary = field.characterSet === BINARY_CHARSET;
  const unsigned = typeof field.flags === "number" && (field.flags & UNSIGNED_FLAG) !== 0 ? " UNSIGNED" : "";
  switch (field.columnType) {
    case 0x00:
    case 0xf6:
      return "DECIMAL";
    case 0x01:
      return `TINYINT${unsigned}`;
    case 0x02:
      return `SMALLINT${unsigned}`;
    case 0x09:
      return `MEDIUMINT${unsigned}`;
    case 0x03:
      return `INT${unsigned}`;
    case 0x08:
      return `BIGINT${unsigned}`;
    case 0x04:
      return "FLOAT";
    case 0x05:
      return "DOUBLE";
    case 0x07:
      return "TIMESTAMP";
    case 0x0c:
      return "DATETIME";
    case 0x0a:
      return "DATE";
    case 0x0b:
      return "TIME";
    case 0x0d:
      return "YEAR";
    case 0x10:
      return "BIT";
    case 0xf5:
      return "JSON";
    case 0x0f:
    case 0xfd:
      return binary ? "VARBINARY" : "VARCHAR";
    case 0xfe:
      return binary ? "BINARY" : "CHAR";
    case 0xf9:
    case 0xfa:
    case 0xfb:
    case 0xfc:
      // MariaDB's JSON is LONGTEXT with a json_valid check; its extended metadata says `format=json`.
      if (binary) return "BLOB";
      return field.extendedFormat === "json" ? "JSON" : "TEXT";
    case 0x06:
      return "NULL";
    default:
      return "VARCHAR";
  }
};

const INTEGER_TYPE = /^(?:TINYINT|SMALLINT|MEDIUMINT|INT|BIGINT|YEAR)\b/;

/** A value mysql2 read (dates and big numbers as text) as the Data API's field for its column type. */
const toWire = (value: unknown, typeName: string, options: RequestBody["resultSetOptions"]): WireField => {
  if (value === null || value === undefined) return { isNull: true };
  if (INTEGER_TYPE.test(typeName)) {
    return options?.longReturnType === "STRING"
      ? { stringValue: String(value) }
      : { longValue: Number(value) };
  }
  if (typeName === "DECIMAL") {
    return options?.decimalReturnType === "DOUBLE_OR_LONG"
      ? { doubleValue: Number(value) }
      : { stringValue: String(value) };
  }
  if (typeName === "FLOAT" || typeName === "DOUBLE") return { doubleValue: Number(value) };
  if (Buffer.isBuffer(value)) {
    return typeName === "BIT" && value.length === 1
      ? { booleanValue: value[0] !== 0 }
      : { blobValue: value.toString("base64") };
  }
  return { stringValue: String(value) };
};

type BoundValue = string | number | boolean | Buffer | null;

const fromWire = (field: WireField | undefined, name: string): BoundValue => {
  if (!field || field.isNull) return null;
  if (field.stringValue !== undefined) return field.stringValue;
  if (field.longValue !== undefined) return field.longValue;
  if (field.doubleValue !== undefined) return field.doubleValue;
  if (field.booleanValue !== undefined) return field.booleanValue;
  if (field.blobValue !== undefined) return Buffer.from(field.blobValue, "base64");
  throw badRequest(`parameter ${name} has no value`);
};

interface Transaction {
  connection: PoolConnection;
  busy: boolean;
}

export interface DataApiCall {
  operation: string;
  transactionId?: string;
  sql?: string;
  /** For a served ExecuteStatement: the size of its JSON answer, which the 1 MiB limit applies to. */
  responseBytes?: number;
  /** Answered as a paused cluster does (`DatabaseResumingException`) instead of being run. */
  paused?: true;
}

export type DataApiOperation = "Execute" | "BeginTransaction" | "CommitTransaction" | "RollbackTransaction";

/** An error as the service would answer it: the `x-amzn-ErrorType`, the HTTP status, the `message`. */
export interface DataApiFailure {
  type: string;
  status: number;
  message: string;
}

export interface DataApiServer {
  endpoint: string;
  /** Every call served, in order. */
  calls: DataApiCall[];
  /** Transactions begun and not yet committed or rolled back. */
  openTransactions(): number;
  /** Answers the next `calls` requests as a paused Aurora Serverless v2 cluster does while it wakes up. */
  pause(calls: number): void;
  /**
   * Answers the next call of `operation` with `failure` instead of serving it (queued: call it twice to fail
   * two calls). Nothing of the call runs, so a failed CommitTransaction leaves the transaction open.
   */
  failNext(operation: DataApiOperation, failure: DataApiFailure): void;
  close(): Promise<void>;
}

/** Starts the stand-in on a free port of 127.0.0.1, running statements on `databaseServer` (`mysql://…`). */
export const startDataApiServer = async (options: { databaseServer: string }): Promise<DataApiServer> => {
  const pools = new Map<string, Pool>();
  const transactions = new Map<string, Transaction>();
  const calls: DataApiCall[] = [];
  const failures = new Map<string, DataApiFailure[]>();
  let resumingCalls = 0;

  const poolFor = (database: string | undefined): Pool => {
    if (!database || !/^[A-Za-z0-9_]+$/.test(database))
      throw badRequest("Database name is missing or invalid");
    let pool = pools.get(database);
    if (!pool) {
      pool = createPool({
        uri: `${options.databaseServer.replace(/\/+$/, "")}/${database}`,
        connectionLimit: 20,
        charset: "utf8mb4",
        // Read as text what the Data API sends as text; mysql2's own conversions stay out of the way.
        dateStrings: true,
        supportBigNumbers: true,
        bigNumberStrings: true,
        decimalNumbers: false,
        jsonStrings: true,
      });
      pools.set(database, pool);
    }
    return pool;
  };

  const endTransaction = async (id: string, statement: "COMMIT" | "ROLLBACK"): Promise<void> => {
    const transaction = transactions.get(id);
    if (!transaction) throw transactionNotFound(id);
    transactions.delete(id);
    try {
      await transaction.connection.query(statement);
    } finally {
      transaction.connection.release();
    }
  };

  const execute = async (body: RequestBody, call: DataApiCall): Promise<unknown> => {
    if (typeof body.sql !== "string" || body.sql.trim() === "") throw badRequest("SQL statement is empty");
    const values: Record<string, BoundValue> = {};
    for (const parameter of body.parameters ?? []) {
      if (!parameter.name) throw badRequest("a parameter has no name");
      values[parameter.name] = fromWire(parameter.value, parameter.name);
    }
    const query = { sql: body.sql, namedPlaceholders: Object.keys(values).length > 0 };
    const run = (runner: Pool | PoolConnection) =>
      query.namedPlaceholders ? runner.query(query, values) : runner.query(query.sql);

    let result: Awaited<ReturnType<typeof run>>;
    if (body.transactionId === undefined) {
      try {
        result = await run(poolFor(body.database));
      } catch (error) {
        throw databaseError(error);
      }
    } else {
      const transaction = transactions.get(body.transactionId);
      if (!transaction) throw transactionNotFound(body.transactionId);
      if (transaction.busy)
        throw new ServiceError("DatabaseErrorException", 400, "Transaction is still running a query");
      transaction.busy = true;
      try {
        result = await run(transaction.connection);
      } catch (error) {
        await endTransaction(body.transactionId, "ROLLBACK").catch(() => undefined);
        throw databaseError(error);
      } finally {
        transaction.busy = false;
      }
    }

    const answer = toAnswer(result, body);
    call.responseBytes = Buffer.byteLength(JSON.stringify(answer));
    if (call.responseBytes > RESPONSE_SIZE_LIMIT_BYTES) {
      if (body.transactionId !== undefined) {
        await endTransaction(body.transactionId, "ROLLBACK").catch(() => undefined);
      }
      throw badRequest(RESPONSE_TOO_LARGE_MESSAGE);
    }
    return answer;
  };

  /** What a statement's result looks like on the wire. */
  const toAnswer = (result: [unknown, FieldPacket[] | undefined], body: RequestBody): unknown => {
    const [rows, fields] = result;
    if (!Array.isArray(rows)) {
      const header = rows as ResultSetHeader;
      return {
        numberOfRecordsUpdated: header.affectedRows,
        generatedFields: header.insertId ? [{ longValue: header.insertId }] : [],
      };
    }
    const columns = (fields ?? []).map((field) => ({
      // As JDBC names them: `name` the underlying column (the alias for an expression), `label` the alias.
      name: field.orgName || field.name,
      label: field.name,
      typeName: typeNameOf(field),
      tableName: field.orgTable,
      nullable: typeof field.flags === "number" && (field.flags & 1) !== 0 ? 0 : 1,
    }));
    const records = (rows as Record<string, unknown>[]).map((row) =>
      // mysql2 keys rows by label; a duplicated label keeps the last value, as it does for the mysql2 driver.
      columns.map((column) => toWire(row[column.label], column.typeName, body.resultSetOptions)),
    );
    return {
      records,
      ...(body.includeResultMetadata ? { columnMetadata: columns } : {}),
      numberOfRecordsUpdated: 0,
    };
  };

  const handle = async (operation: string, body: RequestBody): Promise<unknown> => {
    if (!body.resourceArn?.startsWith("arn:") || !body.secretArn?.startsWith("arn:")) {
      throw badRequest("resourceArn and secretArn must be ARNs");
    }
    const call: DataApiCall = { operation, transactionId: body.transactionId, sql: body.sql };
    calls.push(call);
    const failure = failures.get(operation)?.shift();
    if (failure) throw new ServiceError(failure.type, failure.status, failure.message);
    switch (operation) {
      case "Execute":
        return execute(body, call);
      case "BeginTransaction": {
        const connection = await poolFor(body.database).getConnection();
        try {
          await connection.query("START TRANSACTION");
        } catch (error) {
          connection.release();
          throw databaseError(error);
        }
        const transactionId = randomBytes(48).toString("base64");
        transactions.set(transactionId, { connection, busy: false });
        return { transactionId };
      }
      case "CommitTransaction":
        await endTransaction(body.transactionId ?? "", "COMMIT").catch((error: unknown) => {
          throw error instanceof ServiceError ? error : databaseError(error);
        });
        return { transactionStatus: "Transaction Committed" };
      case "RollbackTransaction":
        await endTransaction(body.transactionId ?? "", "ROLLBACK").catch((error: unknown) => {
          throw error instanceof ServiceError ? error : databaseError(error);
        });
        return { transactionStatus: "Rollback Complete" };
      default:
        throw new ServiceError("UnknownOperationException", 404, `no operation at /${operation}`);
    }
  };

  const respond = (response: ServerResponse, status: number, body: unknown, errorType?: string) => {
    response.writeHead(status, {
      "content-type": "application/json",
      "x-amzn-requestid": randomUUID(),
      ...(errorType ? { "x-amzn-errortype": errorType } : {}),
    });
    response.end(JSON.stringify(body));
  };

  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const operation = (request.url ?? "/").replace(/^\//, "").split("?")[0] ?? "";
      void (async () => {
        try {
          if (request.method !== "POST")
            throw new ServiceError("UnknownOperationException", 404, "POST only");
          if (resumingCalls > 0) {
            resumingCalls -= 1;
            calls.push({ operation, paused: true });
            throw new ServiceError(
              "DatabaseResumingException",
              400,
              "The Aurora DB instance is resuming after being auto-paused. Please wait a few seconds and try again.",
            );
          }
          let body: RequestBody;
          try {
            body = JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}") as RequestBody;
          } catch {
            throw badRequest("the request body is not JSON");
          }
          respond(response, 200, await handle(operation, body));
        } catch (error) {
          const failure = error instanceof ServiceError ? error : databaseError(error);
          respond(response, failure.status, { message: failure.message }, failure.type);
        }
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    calls,
    openTransactions: () => transactions.size,
    pause: (count) => {
      resumingCalls = count;
    },
    failNext: (operation, failure) => {
      failures.set(operation, [...(failures.get(operation) ?? []), failure]);
    },
    async close() {
      for (const id of [...transactions.keys()]) await endTransaction(id, "ROLLBACK").catch(() => undefined);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.all([...pools.values()].map((pool) => pool.end()));
    },
  };
};

/** Made-up ARNs: the stand-in only checks that they look like ARNs. */
export const TEST_CLUSTER_ARN = "arn:aws:rds:us-east-1:123456789012:cluster:pixel-lab-test";
export const TEST_SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:pixel-lab-test-AbCdEf";

/** The real SDK client, pointed at the stand-in with fake credentials; no retries, so errors show at once. */
export const createDataApiTestClient = (endpoint: string): RDSDataClient =>
  new RDSDataClient({
    region: "us-east-1",
    endpoint,
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
    maxAttempts: 1,
  });
