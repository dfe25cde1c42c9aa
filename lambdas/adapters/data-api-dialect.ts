/**
 * A Kysely dialect for Aurora MySQL through the RDS Data API (`@aws-sdk/client-rds-data`): the path the
 * Lambdas take in AWS, where they have no VPC connection to the cluster.
 *
 * Why not the npm `kysely-data-api`: its latest release (2.0.0) declares `kysely: ^0.27.4` as a peer, so npm
 * refuses to install it next to Kysely 0.29, and its MySQL mode would not hand the repository what mysql2 does
 * anyway: it leaves DATETIME columns as text and reads TIMESTAMP text as local time.
 * So this is the small part we need: Kysely's own MySQL adapter, query compiler and introspector, and a
 * driver that
 *  - turns the compiler's `?` placeholders into the Data API's named parameters (`:p0, :p1, …`), leaving any
 *    `?` inside a quoted string, a quoted identifier or a comment alone;
 *  - sends values as typed fields and reads the typed fields back, by the column's `typeName`, as mysql2
 *    returns them with `timezone: "Z"` (see `createMysqlDb`), so the same repository code runs over both;
 *  - maps Kysely transactions onto BeginTransaction / CommitTransaction / RollbackTransaction; when a commit
 *    fails, the driver rolls the transaction back itself and the commit's own error is what the caller sees.
 *
 * The Data API keeps no session between calls outside a transaction: `db.connection()` gives no pinned
 * connection here, so session state (SET, GET_LOCK, temporary tables) does not carry from one statement to
 * the next. And a statement that fails inside a transaction ends that transaction on the service side ("Transaction
 * has been aborted due to an error from a previous call", in the Data API's troubleshooting guide).
 */
import {
  BeginTransactionCommand,
  type ColumnMetadata,
  CommitTransactionCommand,
  DatabaseResumingException,
  ExecuteStatementCommand,
  type ExecuteStatementCommandOutput,
  type Field,
  type RDSDataClient,
  RollbackTransactionCommand,
  type SqlParameter,
  TransactionNotFoundException,
} from "@aws-sdk/client-rds-data";
import {
  type CompiledQuery,
  type DatabaseConnection,
  type DatabaseIntrospector,
  type Dialect,
  type DialectAdapter,
  type Driver,
  type Kysely,
  MysqlAdapter,
  MysqlIntrospector,
  MysqlQueryCompiler,
  type QueryCompiler,
  type QueryResult,
  type TransactionSettings,
} from "kysely";

export interface DataApiTarget {
  /** The Kysely handle owns the client: destroying the handle destroys the client. */
  client: RDSDataClient;
  /** The Aurora cluster's ARN. */
  resourceArn: string;
  /** The Secrets Manager secret holding the database user's credentials. */
  secretArn: string;
  database: string;
}

/** Where a quoted string, quoted identifier or comment that starts at `start` ends (exclusive). */
const skipQuotedOrComment = (sql: string, start: number): number => {
  const char = sql[start];
  if (char === "'" || char === '"' || char === "`") {
    let i = start + 1;
    while (i < sql.length) {
      if (sql[i] === "\\" && char !== "`") {
        i += 2; // a backslash escape inside a string ('it\'s')
      } else if (sql[i] === char) {
        if (sql[i + 1] !== char) return i + 1;
        i += 2; // a doubled quote ('it''s', `a``b`)
      } else {
        i += 1;
      }
    }
    return sql.length; // unterminated: the server will report it
  }
  const next = sql[start + 1];
  // `-- ` needs whitespace (or the end) after it in MySQL; `#` always starts a comment.
  if (
    char === "#" ||
    (char === "-" && next === "-" && (start + 2 >= sql.length || /\s/.test(sql[start + 2] ?? "")))
  ) {
    const end = sql.indexOf("\n", start);
    return end === -1 ? sql.length : end;
  }
  if (char === "/" && next === "*") {
    const end = sql.indexOf("*/", start + 2);
    return end === -1 ? sql.length : end + 2;
  }
  return start;
};

/**
 * Rewrites the `?` placeholders Kysely's MySQL compiler emits into the Data API's `:p0, :p1, …`, in order;
 * a `?` inside a string literal, a backquoted identifier or a comment is text, not a placeholder.
 */
export const toNamedPlaceholders = (sql: string): { sql: string; count: number } => {
  let out = "";
  let count = 0;
  let i = 0;
  while (i < sql.length) {
    const end = skipQuotedOrComment(sql, i);
    if (end > i) {
      out += sql.slice(i, end);
      i = end;
    } else if (sql[i] === "?") {
      out += `:p${count}`;
      count += 1;
      i += 1;
    } else {
      out += sql[i];
      i += 1;
    }
  }
  return { sql: out, count };
};

/** `YYYY-MM-DD HH:MM:SS.mmm` in UTC, the TIMESTAMP text the Data API expects (and what mysql2 sends). */
const formatTimestamp = (date: Date): string => date.toISOString().replace("T", " ").slice(0, 23);

/** A JavaScript value as a named Data API parameter, typed as mysql2 would send it. */
export const toSqlParameter = (value: unknown, index: number): SqlParameter => {
  const name = `p${index}`;
  if (value === null || value === undefined) return { name, value: { isNull: true } };
  if (value instanceof Date) {
    return { name, typeHint: "TIMESTAMP", value: { stringValue: formatTimestamp(value) } };
  }
  if (value instanceof Uint8Array) return { name, value: { blobValue: value } };
  switch (typeof value) {
    case "string":
      return { name, value: { stringValue: value } };
    case "number":
      return Number.isInteger(value)
        ? { name, value: { longValue: value } }
        : { name, value: { doubleValue: value } };
    case "bigint":
      // The Data API's longValue is a JSON number: refuse what it would silently round.
      if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
        throw new RangeError(
          `parameter ${index} (${value}) is beyond what the Data API carries exactly; send it as a string`,
        );
      }
      return { name, value: { longValue: Number(value) } };
    case "boolean":
      return { name, value: { booleanValue: value } };
    default:
      throw new TypeError(`parameter ${index} is a ${typeof value}, which the Data API cannot carry`);
  }
};

const TIMESTAMP_TEXT = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?)?$/;

/** DATETIME / TIMESTAMP / DATE text as a UTC Date, to the millisecond (as mysql2 with `timezone: "Z"`). */
const parseTimestamp = (text: string): Date | string => {
  const match = TIMESTAMP_TEXT.exec(text);
  if (!match) return text;
  const [, year, month, day, hours = "0", minutes = "0", seconds = "0", fraction = ""] = match;
  const date = new Date(
    Date.UTC(
      Number(year),
      Number(month) - 1,
      Number(day),
      Number(hours),
      Number(minutes),
      Number(seconds),
      Number(fraction.padEnd(3, "0").slice(0, 3)),
    ),
  );
  if (Number(year) < 100) date.setUTCFullYear(Number(year)); // Date.UTC maps years 0-99 to 1900-1999
  return date;
};

/** An integer as mysql2 (`supportBigNumbers`, not `bigNumberStrings`) gives it: a number, or text if unsafe. */
const toInteger = (raw: string | number): number | string => {
  if (typeof raw === "number") return raw;
  const value = Number(raw);
  return Number.isSafeInteger(value) ? value : raw;
};

const INTEGER_TYPES = new Set(["TINYINT", "SMALLINT", "MEDIUMINT", "INT", "INTEGER", "BIGINT", "YEAR"]);
const TIMESTAMP_TYPES = new Set(["DATETIME", "TIMESTAMP", "DATE"]);
const DECIMAL_TYPES = new Set(["DECIMAL", "NUMERIC"]);
const FLOAT_TYPES = new Set(["FLOAT", "DOUBLE", "REAL"]);

/**
 * One Data API field as mysql2 would have returned it: DATETIME/TIMESTAMP/DATE as a UTC `Date`, DECIMAL as
 * text, integers as numbers (text beyond 2^53), NULL as null, binary as a Buffer, and JSON parsed: the Data
 * API sends JSON as text, while mysql2 parses a JSON column (MySQL's JSON type, and MariaDB's JSON alias,
 * which its column metadata marks as JSON); `readJson` accepts either. A boolean (BIT(1) / BOOL as Aurora
 * may report them) comes back as 1 or 0, the number mysql2 reads a MySQL BOOLEAN (TINYINT(1)) as.
 */
export const fromField = (field: Field, column: ColumnMetadata | undefined): unknown => {
  if (field.isNull) return null;
  const type = (column?.typeName ?? "").toUpperCase().replace(/ UNSIGNED$/, "");
  const { stringValue, longValue, doubleValue } = field;
  const scalar = stringValue ?? longValue ?? doubleValue;
  if (scalar !== undefined) {
    if (TIMESTAMP_TYPES.has(type)) return parseTimestamp(String(scalar));
    if (DECIMAL_TYPES.has(type)) return String(scalar);
    if (INTEGER_TYPES.has(type)) return toInteger(scalar);
    if (FLOAT_TYPES.has(type)) return Number(scalar);
    if (type === "JSON") return JSON.parse(String(scalar));
    return scalar;
  }
  if (field.booleanValue !== undefined) return field.booleanValue ? 1 : 0;
  if (field.blobValue !== undefined) return Buffer.from(field.blobValue);
  if (field.arrayValue !== undefined) {
    throw new TypeError(`column ${column?.name ?? "?"} is an array, which MySQL does not return`);
  }
  throw new TypeError(`column ${column?.name ?? "?"} came back as a field type this dialect does not know`);
};

const toRows = <R>(output: ExecuteStatementCommandOutput): R[] => {
  const columns = output.columnMetadata ?? [];
  return (output.records ?? []).map((record) => {
    const row: Record<string, unknown> = {};
    record.forEach((field, index) => {
      const column = columns[index];
      // `label` is the select-list alias (`AS n`); `name` the underlying column.
      row[column?.label || column?.name || `column_${index}`] = fromField(field, column);
    });
    return row as R;
  });
};

const generatedId = (fields: Field[] | undefined): bigint | undefined => {
  const first = fields?.[0];
  const value = first?.longValue ?? first?.stringValue;
  return value === undefined || value === null || String(value) === "0" ? undefined : BigInt(value);
};

/**
 * An Aurora Serverless v2 cluster that scaled down to 0 ACU answers DatabaseResumingException while it
 * wakes (seconds, up to about 15). Waiting here keeps a wake-up from becoming a failed API request or a
 * spent queue retry. Only calls that start work are retried: inside a transaction the cluster is awake.
 * https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/aurora-serverless-v2-auto-pause.html
 */
const RESUME_WAITS_MS = [250, 500, 1000, 2000, 4000, 4000, 4000, 4000];

const whileResuming = async <T>(
  call: () => Promise<T>,
  waits: readonly number[] = RESUME_WAITS_MS,
): Promise<T> => {
  for (const wait of waits) {
    try {
      return await call();
    } catch (error) {
      if (!(error instanceof DatabaseResumingException)) throw error;
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }
  return call();
};

/** DDL keeps running on the server when the HTTP call times out, as AWS recommends for schema changes. */
const DDL = /^\s*(?:create|alter|drop|rename|truncate)\b/i;

class DataApiConnection implements DatabaseConnection {
  readonly #target: DataApiTarget;
  #transactionId: string | undefined;
  /** Set when the last transaction's commit failed: the driver has already sent its rollback. */
  #commitFailed = false;

  constructor(target: DataApiTarget) {
    this.#target = target;
  }

  async begin(): Promise<void> {
    if (this.#transactionId !== undefined) throw new Error("a Data API transaction is already open");
    const { client, resourceArn, secretArn, database } = this.#target;
    const output = await whileResuming(() =>
      client.send(new BeginTransactionCommand({ resourceArn, secretArn, database })),
    );
    if (!output.transactionId) throw new Error("BeginTransaction answered without a transactionId");
    this.#transactionId = output.transactionId;
    this.#commitFailed = false;
  }

  async commit(): Promise<void> {
    const transactionId = this.#endTransaction();
    const { client, resourceArn, secretArn } = this.#target;
    try {
      await client.send(new CommitTransactionCommand({ resourceArn, secretArn, transactionId }));
    } catch (error) {
      // A refused commit can leave the transaction open on the service, holding its row locks until the
      // service drops it three minutes after its last call (the Data API troubleshooting guide), so roll it
      // back now. That is best effort: if the rollback fails too, the commit's error is still the one the
      // caller must see, and the service's timeout ends the rest.
      this.#commitFailed = true;
      await client
        .send(new RollbackTransactionCommand({ resourceArn, secretArn, transactionId }))
        .catch(() => undefined);
      throw error;
    }
  }

  async rollback(): Promise<void> {
    // Kysely answers a failed commit with a rollback (`transaction().execute()` does so itself, a controlled
    // transaction's caller usually does): the transaction has already been rolled back above, and a second
    // RollbackTransaction, or a "no transaction open" error here, would replace the commit's error.
    if (this.#transactionId === undefined && this.#commitFailed) return;
    const transactionId = this.#endTransaction();
    const { client, resourceArn, secretArn } = this.#target;
    try {
      await client.send(new RollbackTransactionCommand({ resourceArn, secretArn, transactionId }));
    } catch (error) {
      // The service ends a transaction itself when a statement in it fails; it is rolled back already, and
      // the statement's error (say, a duplicate key the caller handles) is the one that must surface.
      if (error instanceof TransactionNotFoundException) return;
      throw error;
    }
  }

  #endTransaction(): string {
    const transactionId = this.#transactionId;
    if (transactionId === undefined) throw new Error("no Data API transaction is open");
    this.#transactionId = undefined;
    return transactionId;
  }

  async executeQuery<R>(
    compiledQuery: CompiledQuery,
    options?: { signal?: AbortSignal | undefined },
  ): Promise<QueryResult<R>> {
    const { sql, count } = toNamedPlaceholders(compiledQuery.sql);
    if (count !== compiledQuery.parameters.length) {
      throw new Error(
        `the statement has ${count} placeholders but ${compiledQuery.parameters.length} parameters`,
      );
    }
    const { client, resourceArn, secretArn, database } = this.#target;
    const send = () =>
      client.send(
        new ExecuteStatementCommand({
          resourceArn,
          secretArn,
          database,
          sql,
          parameters: compiledQuery.parameters.map(toSqlParameter),
          transactionId: this.#transactionId,
          includeResultMetadata: true,
          // DECIMAL as exact text; integers as text too, so a BIGINT beyond 2^53 is not rounded in JSON.
          resultSetOptions: { decimalReturnType: "STRING", longReturnType: "STRING" },
          continueAfterTimeout: DDL.test(sql) ? true : undefined,
        }),
        { abortSignal: options?.signal },
      );
    const output = this.#transactionId === undefined ? await whileResuming(send) : await send();
    if (output.columnMetadata && output.columnMetadata.length > 0) return { rows: toRows<R>(output) };
    return {
      numAffectedRows: BigInt(output.numberOfRecordsUpdated ?? 0),
      insertId: generatedId(output.generatedFields),
      rows: [],
    };
  }

  /** The Data API has no cursors: the whole result comes in one answer, handed on in chunks. */
  async *streamQuery<R>(
    compiledQuery: CompiledQuery,
    chunkSize = 100,
    options?: { signal?: AbortSignal | undefined },
  ): AsyncIterableIterator<QueryResult<R>> {
    const { rows } = await this.executeQuery<R>(compiledQuery, options);
    for (let start = 0; start < rows.length; start += chunkSize) {
      yield { rows: rows.slice(start, start + chunkSize) };
    }
  }
}

const asDataApiConnection = (connection: DatabaseConnection): DataApiConnection => {
  if (!(connection instanceof DataApiConnection)) throw new TypeError("not a Data API connection");
  return connection;
};

class DataApiDriver implements Driver {
  readonly #target: DataApiTarget;

  constructor(target: DataApiTarget) {
    this.#target = target;
  }

  async init(): Promise<void> {}

  /** A connection is only a holder for a transaction id: every statement is its own HTTPS call. */
  async acquireConnection(): Promise<DatabaseConnection> {
    return new DataApiConnection(this.#target);
  }

  async beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    if (settings.isolationLevel !== undefined || settings.accessMode !== undefined) {
      // BeginTransaction takes no isolation level, and there is no session to SET one on beforehand.
      throw new Error("the Data API does not take a transaction isolation level or access mode");
    }
    await asDataApiConnection(connection).begin();
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await asDataApiConnection(connection).commit();
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    await asDataApiConnection(connection).rollback();
  }

  async releaseConnection(): Promise<void> {}

  async destroy(): Promise<void> {
    this.#target.client.destroy();
  }
}

/** Aurora MySQL over the RDS Data API, with Kysely's MySQL SQL. */
export class DataApiMysqlDialect implements Dialect {
  readonly #target: DataApiTarget;

  constructor(target: DataApiTarget) {
    this.#target = target;
  }

  createDriver(): Driver {
    return new DataApiDriver(this.#target);
  }

  createQueryCompiler(): QueryCompiler {
    return new MysqlQueryCompiler();
  }

  createAdapter(): DialectAdapter {
    return new MysqlAdapter();
  }

  createIntrospector(db: Kysely<unknown>): DatabaseIntrospector {
    return new MysqlIntrospector(db);
  }
}
