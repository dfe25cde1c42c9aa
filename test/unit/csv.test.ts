import { describe, expect, it } from "vitest";
import {
  CSV_COLUMNS,
  checkProduct,
  csvTemplate,
  decodeCsv,
  describeRowProblems,
  duplicateSkus,
  MAX_CSV_ROWS,
  matchPhoto,
  parseProductsCsv,
} from "../../web/src/csv.ts";
import { pdfDocument } from "../support/fixtures.ts";

const HEADER = "sku,title,category,mrp,price,discount,gst,photo";
const row = (sku: string, photo = `${sku.toLowerCase()}.jpg`, price = "90.00") =>
  `${sku},Title ${sku},kitchen,100.00,${price},10,18,${photo}`;

const rowsOf = (text: string) => {
  const result = parseProductsCsv(text);
  if (!result.ok) throw new Error(`expected rows, got: ${result.problems.join("; ")}`);
  return result.rows;
};
const problemsOf = (text: string) => {
  const result = parseProductsCsv(text);
  if (result.ok) throw new Error(`expected problems, got ${result.rows.length} rows`);
  return result.problems;
};

describe("the products CSV", () => {
  it("reads each row's fields and photo, with the line it starts on", () => {
    const rows = rowsOf(`${HEADER}\n${row("A-1")}\n${row("B-2", "b.png")}\n`);
    expect(rows).toEqual([
      {
        line: 2,
        values: {
          sku: "A-1",
          title: "Title A-1",
          category: "kitchen",
          mrp: "100.00",
          price: "90.00",
          discount: "10",
          gst: "18",
        },
        photo: "a-1.jpg",
        problems: {},
      },
      expect.objectContaining({ line: 3, photo: "b.png", problems: {} }),
    ]);
  });

  it("matches header names without regard to case, spaces or order, and defaults a missing discount to 0", () => {
    const rows = rowsOf(" Photo ,SKU,Title,CATEGORY,Mrp,Price,Gst\r\nx.jpg,X-1,Mug,kitchen,10,9,5\r\n");
    expect(rows[0]?.values).toEqual({
      sku: "X-1",
      title: "Mug",
      category: "kitchen",
      mrp: "10",
      price: "9",
      discount: "0",
      gst: "5",
    });
    expect(rows[0]?.photo).toBe("x.jpg");
  });

  it("drops a UTF-8 byte-order mark, in the bytes and in the text", () => {
    const text = `\uFEFF${HEADER}\r\n${row("BOM-1")}\r\n`;
    const decoded = decodeCsv(new TextEncoder().encode(text));
    expect(decoded).toEqual({ ok: true, text: text.slice(1) });
    expect(rowsOf(text)[0]?.values.sku).toBe("BOM-1");
  });

  it("keeps commas, quotes and line breaks inside quoted values, and counts lines past them", () => {
    const text = [
      HEADER,
      'Q-1,"Mug, red ""classic""",kitchen,100,90,0,18,q.jpg',
      'Q-2,"Two\r\nlines",kitchen,100,90,0,18,q2.jpg',
      "Q-3,Plain,kitchen,100,190,0,18,q3.jpg",
    ].join("\r\n");
    const rows = rowsOf(text);
    expect(rows.map((each) => each.values.title)).toEqual(['Mug, red "classic"', "Two\r\nlines", "Plain"]);
    // The second row spans lines 3 and 4, so the third starts on line 5.
    expect(rows.map((each) => each.line)).toEqual([2, 3, 5]);
    expect(describeRowProblems(rows)).toEqual(["Line 5, price: must not exceed mrp (100.00)"]);
  });

  it("skips empty lines, trailing ones included, without losing count of the lines", () => {
    const rows = rowsOf(`${HEADER}\r\n\r\n${row("E-1")}\r\n,,,,,,,\r\n${row("E-2")}\r\n\r\n\r\n`);
    expect(rows.map((each) => [each.line, each.values.sku])).toEqual([
      [3, "E-1"],
      [5, "E-2"],
    ]);
  });

  it("reads a semicolon-separated file as a spreadsheet in a comma-decimal locale writes it", () => {
    const rows = rowsOf(`${HEADER.replaceAll(",", ";")}\n${row("S-1").replaceAll(",", ";")}\n`);
    expect(rows[0]?.values.sku).toBe("S-1");
  });

  it("names each problem of a row by its line and column, in the API's words", () => {
    const rows = rowsOf(
      [
        HEADER,
        row("OK-1"),
        "BAD SKU,,kitchen,100.00,120.00,0,18,a.jpg",
        "M-1,Mug,kitchen,1.999,₹90,0,101,m.jpg",
        row("ok-1", "again.jpg"),
      ].join("\n"),
    );
    expect(rows[0]?.problems).toEqual({});
    expect(describeRowProblems(rows)).toEqual([
      "Line 3, sku: may contain only letters, digits, '.', '_' and '-'",
      "Line 3, title: must not be empty",
      "Line 3, price: must not exceed mrp (100.00)",
      "Line 4, mrp: must be a non-negative decimal with at most 2 decimal places",
      "Line 4, price: must be a non-negative decimal with at most 2 decimal places",
      "Line 4, gst: must be at most 100",
      "Line 5, sku: duplicates line 2's sku (OK-1)",
    ]);
  });

  it("refuses unknown and missing columns, naming them and the columns it knows", () => {
    expect(problemsOf("sku,title,colour,mrp,price,gst,photo,weight\nA,B,red,1,1,1,a.jpg,3\n")).toEqual([
      `line 1: unknown columns "colour", "weight" (the columns are ${CSV_COLUMNS.map((c) => c.name).join(", ")})`,
      `line 1: missing column category (the columns are ${CSV_COLUMNS.map((c) => c.name).join(", ")})`,
    ]);
    expect(problemsOf("sku,title\nA,B\n")[0]).toMatch(
      /^line 1: missing columns category, mrp, price, gst, photo /,
    );
    expect(problemsOf(`${HEADER},SKU\n`)).toEqual(["line 1: the column sku appears twice"]);
  });

  it("refuses a row with more or fewer values than the header, naming its line", () => {
    expect(problemsOf(`${HEADER}\n${row("A-1")}\nA-2,Mug, red,kitchen,100,90,0,18,a.jpg\n`)).toEqual([
      "line 3: 9 values, but the header has 8 columns (a value with a comma must be in double quotes)",
    ]);
  });

  it("refuses a quoted value that is never closed", () => {
    expect(problemsOf(`${HEADER}\n${row("A-1")}\nA-2,"Mug,kitchen,100,90,0,18,a.jpg\n`)).toEqual([
      "line 3: a quoted value is not closed (or a stray quote is inside one)",
    ]);
  });

  it("refuses an empty file, a header alone, and more rows than one request takes", () => {
    expect(problemsOf("\r\n\r\n")).toEqual(["the file has no header row (it is empty)"]);
    expect(problemsOf(`${HEADER}\r\n`)).toEqual(["the file has a header but no product rows"]);
    const many = Array.from({ length: MAX_CSV_ROWS + 1 }, (_, index) => row(`R-${index}`));
    expect(problemsOf([HEADER, ...many].join("\n"))).toEqual([
      `the file has ${MAX_CSV_ROWS + 1} product rows; at most ${MAX_CSV_ROWS} go in one request: split it`,
    ]);
    expect(rowsOf([HEADER, ...many.slice(1)].join("\n"))).toHaveLength(MAX_CSV_ROWS);
  });

  it("refuses a file that is not a CSV by its bytes: an image, a PDF, binary, not UTF-8", async () => {
    const { readFile } = await import("node:fs/promises");
    const { CORPUS } = await import("../support/upload.ts");
    const jpeg = new Uint8Array(await readFile(`${CORPUS}apple.jpg`));
    expect(decodeCsv(jpeg)).toEqual({ ok: false, reason: "it is a JPEG image, not a CSV file" });
    expect(decodeCsv(pdfDocument)).toEqual({ ok: false, reason: "it is a PDF file, not a CSV file" });
    expect(decodeCsv(new Uint8Array([0x73, 0x6b, 0x75, 0xe9, 0x0a]))).toEqual({
      ok: false,
      reason: "it is not UTF-8 text: save it as “CSV UTF-8”",
    });
    expect(decodeCsv(new Uint8Array([0x73, 0, 0, 0x01]))).toEqual({
      ok: false,
      reason: "it is binary data, not a CSV file",
    });
    expect(decodeCsv(new Uint8Array())).toEqual({ ok: false, reason: "the file is empty" });
  });

  it("offers a template whose header and example row read back as one valid product", () => {
    const template = csvTemplate();
    expect(template.split("\r\n")[0]).toBe(CSV_COLUMNS.map((column) => column.name).join(","));
    expect(template.endsWith("\r\n")).toBe(true);
    const decoded = decodeCsv(new TextEncoder().encode(template));
    if (!decoded.ok) throw new Error(decoded.reason);
    const rows = rowsOf(decoded.text);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toEqual({
      line: 2,
      values: Object.fromEntries(
        CSV_COLUMNS.filter((column) => column.name !== "photo").map((column) => [
          column.name,
          column.example,
        ]),
      ),
      photo: CSV_COLUMNS.find((column) => column.name === "photo")?.example,
      problems: {},
    });
    // The example title has a comma, so the template shows how a value with one is written.
    expect(template).toContain('"Red ceramic mug, 350 ml"');
  });
});

describe("a row's photo", () => {
  const names = ["shop/apple.jpg", "Orange.JPG", "pear.jpg", "PEAR.jpg"];
  it("is the file of that name first, ignoring a folder's path", () => {
    expect(matchPhoto("apple.jpg", names)).toBe("shop/apple.jpg");
    expect(matchPhoto("pear.jpg", names)).toBe("pear.jpg");
    expect(matchPhoto("PEAR.jpg", names)).toBe("PEAR.jpg");
  });
  it("else the one file whose name differs only in case", () => {
    expect(matchPhoto("orange.jpg", names)).toBe("Orange.JPG");
    expect(matchPhoto(" APPLE.JPG ", names)).toBe("shop/apple.jpg");
    // Two names fold to the same: neither is guessed.
    expect(matchPhoto("Pear.JPG", names)).toBeUndefined();
    expect(matchPhoto("kiwi.jpg", names)).toBeUndefined();
    expect(matchPhoto("", names)).toBeUndefined();
  });
});

describe("the product checks the page makes before sending", () => {
  it("are the API's: money format, price not over mrp, the sku rule", () => {
    const good = { sku: "A", title: "T", category: "c", mrp: "10", price: "10", discount: "0", gst: "0" };
    expect(checkProduct(good)).toEqual({});
    expect(checkProduct({ ...good, price: "10.01" })).toEqual({ price: "must not exceed mrp (10.00)" });
    expect(checkProduct({ ...good, mrp: "0", discount: "1.234" })).toEqual({
      mrp: "must be greater than 0",
      discount: "must be a non-negative decimal with at most 2 decimal places",
    });
  });
  it("find a sku repeated in any case", () => {
    expect(duplicateSkus(["A", "b", "a", "", "B", "c"])).toEqual([
      undefined,
      undefined,
      0,
      undefined,
      1,
      undefined,
    ]);
  });
});
