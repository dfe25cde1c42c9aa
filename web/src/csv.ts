import Papa from "papaparse";
import {
  MAX_PRODUCTS_PER_REQUEST,
  newProductSchema,
  skuIdentity,
} from "../../lambdas/domain/product-input.ts";
import { describeUnsupported, formatName, sniffImageFormat } from "../../lambdas/engine/formats.ts";

/**
 * The seller's CSV of products: its columns, declared once (the parser, the template and the page's fields all
 * read this list), the parser, and the checks of a row. Free of DOM APIs, so the unit tests run it in Node.
 *
 * A row is checked with the API's own `newProductSchema` (zod, a few kilobytes in the bundle): the page says
 * what `POST /products` would say, in its words, before anything is sent, and a changed rule cannot drift.
 */
export const CSV_COLUMNS = [
  { name: "sku", required: true, example: "MUG-RED-350" },
  { name: "title", required: true, example: "Red ceramic mug, 350 ml" },
  { name: "category", required: true, example: "kitchen" },
  { name: "mrp", required: true, example: "499.00" },
  { name: "price", required: true, example: "449.10" },
  { name: "discount", required: false, example: "10" },
  { name: "gst", required: true, example: "18" },
  { name: "photo", required: true, example: "mug-red-350.jpg" },
] as const;

export type CsvColumn = (typeof CSV_COLUMNS)[number]["name"];
/** The product's own fields: every column but the photo's file name. */
export type ProductField = Exclude<CsvColumn, "photo">;
export type ProductValues = Record<ProductField, string>;

export const PRODUCT_FIELDS = CSV_COLUMNS.map((column) => column.name).filter(
  (name): name is ProductField => name !== "photo",
);

/** One request's worth: a longer file is refused whole rather than cut (which rows would the seller lose?). */
export const MAX_CSV_ROWS = MAX_PRODUCTS_PER_REQUEST;

/** The template's file name, and the one the page offers it under. */
export const TEMPLATE_FILE_NAME = "pixel-lab-products.csv";

export interface CsvRow {
  /** The line of the file the row starts on (the header is line 1). */
  line: number;
  values: ProductValues;
  /** The photo's file name as the row names it (may be empty: a product created without its photo). */
  photo: string;
  /** What the API would refuse in this row, by field. */
  problems: Partial<Record<ProductField, string>>;
}

/** A file is read whole or refused whole: `problems` say why, each naming its line and column where it has one. */
export type CsvResult = { ok: true; rows: CsvRow[] } | { ok: false; problems: string[] };

const columnNames = CSV_COLUMNS.map((column) => column.name);

/** The template: the header and one example row, as RFC 4180 has it (CRLF, a comma inside quotes). */
export const csvTemplate = (): string => {
  const text = Papa.unparse(
    { fields: columnNames, data: [CSV_COLUMNS.map((column) => column.example)] },
    { newline: "\r\n" },
  );
  return `${text}\r\n`;
};

/**
 * The file's text, or why it is not a CSV: UTF-8 with or without its byte-order mark (a spreadsheet's "CSV
 * UTF-8" writes one), never an image or a binary named `.csv`.
 */
export const decodeCsv = (bytes: Uint8Array): { ok: true; text: string } | { ok: false; reason: string } => {
  const format = sniffImageFormat(bytes);
  if (format) return { ok: false, reason: `it is a ${formatName(format)} image, not a CSV file` };
  if (bytes.length === 0) return { ok: false, reason: "the file is empty" };
  // Formats with a signature of their own (PDF, SVG, ZIP, …) are named, even when their bytes are ASCII.
  const kind = describeUnsupported(bytes);
  if (kind !== "a text file" && kind !== "not an image")
    return { ok: false, reason: `it is ${kind}, not a CSV file` };
  let text: string;
  try {
    // `fatal` refuses bytes that are not UTF-8 instead of turning them into U+FFFD; the BOM is dropped.
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return { ok: false, reason: "it is not UTF-8 text: save it as “CSV UTF-8”" };
  }
  if (text.includes("\u0000")) return { ok: false, reason: "it is binary data, not a CSV file" };
  return { ok: true, text: text.replace(/^\uFEFF/, "") };
};

const isBlank = (record: string[]) => record.every((cell) => cell.trim() === "");

/** Line breaks inside a record's quoted fields: each moves the next record one line further down the file. */
const breaksIn = (record: string[]) =>
  record.reduce((count, cell) => count + (cell.match(/\r\n|\r|\n/g)?.length ?? 0), 0);

/**
 * The API's checks of one product's fields, in the API's words. The content type comes from the photo's bytes,
 * not from the CSV, so a valid one stands in for it here and its own problems are never reported.
 */
export const checkProduct = (values: ProductValues): Partial<Record<ProductField, string>> => {
  const result = newProductSchema.safeParse({ ...values, contentType: "image/jpeg" });
  if (result.success) return {};
  const problems: Partial<Record<ProductField, string>> = {};
  for (const issue of result.error.issues) {
    const field = issue.path[0];
    if (typeof field === "string" && (PRODUCT_FIELDS as string[]).includes(field)) {
      problems[field as ProductField] ??= issue.message;
    }
  }
  return problems;
};

/** For each sku that an earlier one already has (compared as the API compares them), that earlier index. */
export const duplicateSkus = (skus: readonly string[]): (number | undefined)[] => {
  const first = new Map<string, number>();
  return skus.map((sku, index) => {
    const identity = skuIdentity(sku);
    if (identity === "") return undefined;
    const earlier = first.get(identity);
    if (earlier === undefined) first.set(identity, index);
    return earlier;
  });
};

/** Parses the CSV's text: the header (matched without regard to case or spaces), then one product per row. */
export const parseProductsCsv = (text: string): CsvResult => {
  const parsed = Papa.parse<string[]>(text.replace(/^\uFEFF/, ""), {
    header: false,
    // A spreadsheet in a comma-decimal locale writes `;`; anything else stays `,`.
    delimitersToGuess: [",", ";", "\t"],
  });
  const records = parsed.data;
  // Line of each record, counted from the records themselves (a quoted field may span lines).
  const lines: number[] = [];
  let line = 1;
  for (const record of records) {
    lines.push(line);
    line += 1 + breaksIn(record);
  }
  const structural = parsed.errors
    .filter((error) => error.type === "Quotes")
    .map(
      (error) =>
        `line ${lines[error.row ?? 0] ?? 1}: a quoted value is not closed (or a stray quote is inside one)`,
    );
  if (structural.length > 0) return { ok: false, problems: structural };

  const headerIndex = records.findIndex((record) => !isBlank(record));
  const header = records[headerIndex];
  if (!header) return { ok: false, problems: ["the file has no header row (it is empty)"] };
  const headerLine = lines[headerIndex] ?? 1;

  const problems: string[] = [];
  const positions = new Map<CsvColumn, number>();
  const unknown: string[] = [];
  header.forEach((cell, index) => {
    const name = cell.trim().toLowerCase();
    const column = CSV_COLUMNS.find((each) => each.name === name);
    if (!column) {
      if (name !== "" || index < header.length - 1)
        unknown.push(cell.trim() === "" ? `(an empty name, column ${index + 1})` : `"${cell.trim()}"`);
    } else if (positions.has(column.name)) {
      problems.push(`line ${headerLine}: the column ${column.name} appears twice`);
    } else positions.set(column.name, index);
  });
  const known = columnNames.join(", ");
  if (unknown.length > 0)
    problems.push(
      `line ${headerLine}: unknown column${unknown.length > 1 ? "s" : ""} ${unknown.join(", ")} (the columns are ${known})`,
    );
  const missing = CSV_COLUMNS.filter((column) => column.required && !positions.has(column.name)).map(
    (column) => column.name,
  );
  if (missing.length > 0)
    problems.push(
      `line ${headerLine}: missing column${missing.length > 1 ? "s" : ""} ${missing.join(", ")} (the columns are ${known})`,
    );
  if (problems.length > 0) return { ok: false, problems };

  const body = records
    .map((record, index) => ({ record, line: lines[index] ?? 0 }))
    .slice(headerIndex + 1)
    .filter(({ record }) => !isBlank(record));
  if (body.length === 0) return { ok: false, problems: ["the file has a header but no product rows"] };
  if (body.length > MAX_CSV_ROWS)
    return {
      ok: false,
      problems: [
        `the file has ${body.length} product rows; at most ${MAX_CSV_ROWS} go in one request: split it`,
      ],
    };
  const widths = body
    .filter(({ record }) => record.length !== header.length)
    .map(
      ({ record, line: at }) =>
        `line ${at}: ${record.length} values, but the header has ${header.length} columns (a value with a comma must be in double quotes)`,
    );
  if (widths.length > 0) return { ok: false, problems: widths };

  const cell = (record: string[], name: CsvColumn) => {
    const index = positions.get(name);
    return index === undefined ? "" : (record[index] ?? "").trim();
  };
  const rows = body.map(({ record, line: at }): CsvRow => {
    const values = Object.fromEntries(
      PRODUCT_FIELDS.map((name) => [name, cell(record, name) || (name === "discount" ? "0" : "")]),
    ) as ProductValues;
    return { line: at, values, photo: cell(record, "photo"), problems: checkProduct(values) };
  });
  duplicateSkus(rows.map((row) => row.values.sku)).forEach((earlier, index) => {
    const row = rows[index];
    const first = earlier === undefined ? undefined : rows[earlier];
    if (row && first && !row.problems.sku)
      row.problems.sku = `duplicates line ${first.line}'s sku (${first.values.sku})`;
  });
  return { ok: true, rows };
};

/** "Line 3, price: must not exceed mrp (100.00)": each problem of the rows, in the file's order. */
export const describeRowProblems = (rows: readonly CsvRow[]): string[] =>
  rows.flatMap((row) =>
    PRODUCT_FIELDS.flatMap((field) => {
      const message = row.problems[field];
      return message ? [`Line ${row.line}, ${field}: ${message}`] : [];
    }),
  );

const baseName = (name: string) => name.slice(name.lastIndexOf("/") + 1);

/**
 * The photo a row names, among the files' names: the same name first (a folder's path ignored), else the one
 * name that differs from it only in case (a spreadsheet typed by hand, a camera's upper-case `.JPG`).
 */
export const matchPhoto = (wanted: string, names: readonly string[]): string | undefined => {
  const target = baseName(wanted.trim());
  if (target === "") return undefined;
  const exact = names.find((name) => baseName(name) === target);
  if (exact !== undefined) return exact;
  const folded = names.filter((name) => baseName(name).toLowerCase() === target.toLowerCase());
  return folded.length === 1 ? folded[0] : undefined;
};

/** Whether a picked file is meant as the CSV (by its name or type: its bytes are checked when it is read). */
export const isCsvFile = (file: { name: string; type: string }): boolean =>
  /\.csv$/i.test(file.name) || file.type === "text/csv";
