import { type ChangeEvent, type DragEvent, useEffect, useRef, useState } from "react";
import {
  type Api,
  ApiError,
  type CreatedProduct,
  type NewProductInput,
  type ProductStatus,
  SignedOutError,
  type UploadContentType,
  type UploadTicket,
} from "../api.ts";
import {
  CSV_COLUMNS,
  type CsvRow,
  checkProduct,
  csvTemplate,
  decodeCsv,
  describeRowProblems,
  duplicateSkus,
  isCsvFile,
  MAX_CSV_ROWS,
  matchPhoto,
  type ProductField,
  parseProductsCsv,
  TEMPLATE_FILE_NAME,
} from "../csv.ts";
import { useChanges, useLive } from "../live.tsx";
import { Link } from "../router.tsx";
import { formatBytes, PageHeading, StatusBadge } from "../ui.tsx";
import {
  checkFile,
  runLimited,
  skuFromFileName,
  titleFromFileName,
  UPLOAD_CONCURRENCY,
  UploadError,
  uploadWithTicket,
} from "../upload.ts";
import "./new-products.css";

/** The API's limit on one `POST /products`, the CSV's too. */
const MAX_PER_REQUEST = MAX_CSV_ROWS;

type Field = Exclude<keyof NewProductInput, "contentType"> & ProductField;
const FIELDS: { name: Field; label: string; inputMode?: "decimal" }[] = [
  { name: "sku", label: "SKU" },
  { name: "title", label: "Title" },
  { name: "category", label: "Category" },
  { name: "mrp", label: "MRP", inputMode: "decimal" },
  { name: "price", label: "Price", inputMode: "decimal" },
  { name: "discount", label: "Discount %", inputMode: "decimal" },
  { name: "gst", label: "GST %", inputMode: "decimal" },
];

type Upload =
  | { state: "waiting" }
  /** Created without a photo, as the seller chose: one is uploaded later from the product's page. */
  | { state: "none" }
  | { state: "sending"; progress: number }
  | { state: "sent" }
  | { state: "failed"; message: string; needsTicket: boolean };

interface Row {
  key: string;
  /** The photo; none for a CSV row whose photo was not picked (yet). */
  file?: File | undefined;
  contentType?: UploadContentType | undefined;
  /** Where the fields came from: a CSV's line, or the photo's file name. */
  line?: number | undefined;
  /** The photo's file name as the CSV row names it. */
  wanted?: string | undefined;
  /** A CSV row without its photo is sent only if the seller asks for it to be created without one. */
  withoutPhoto: boolean;
  values: Record<Field, string>;
  errors: Partial<Record<Field, string>>;
  product?: { id: string; status: ProductStatus; statusReason: string | null };
  ticket?: UploadTicket | null;
  upload: Upload;
}

interface Refused {
  name: string;
  reason: string;
}

/** What came of a CSV: refused whole (with why), or read, with the problems of its rows. */
type CsvReport = { name: string; refused: string[] } | { name: string; rows: number; problems: string[] };

/** Fields filled from a photo's file name, where no CSV row names it. */
const valuesFromFileName = (name: string): Record<Field, string> => ({
  sku: skuFromFileName(name),
  title: titleFromFileName(name),
  category: "general",
  mrp: "100.00",
  price: "100.00",
  discount: "0",
  gst: "18",
});

const labelled = (problems: Partial<Record<Field, string>>): Partial<Record<Field, string>> =>
  Object.fromEntries(
    Object.entries(problems).map(([field, message]) => [
      field,
      `${FIELDS.find((item) => item.name === field)?.label ?? field} ${message}`,
    ]),
  );

/** Whether the row goes in the next `POST /products`: not sent yet, and a photo or the seller's word to go without. */
const isSendable = (row: Row) => !row.product && (row.file !== undefined || row.withoutPhoto);

/** A photo from a folder: hidden files (`.DS_Store`, `._x.jpg`) are the system's, not the seller's. */
const isHidden = (file: File) => file.name.startsWith(".");

/** Every file under the dropped items, folders walked. */
const filesOfEntry = async (entry: FileSystemEntry): Promise<File[]> => {
  if (entry.isFile) {
    return [
      await new Promise<File>((resolve, reject) => (entry as FileSystemFileEntry).file(resolve, reject)),
    ];
  }
  if (!entry.isDirectory) return [];
  const reader = (entry as FileSystemDirectoryEntry).createReader();
  const files: File[] = [];
  // readEntries answers a folder in batches (Chromium's are 100), and an empty batch at the end.
  for (;;) {
    const batch = await new Promise<FileSystemEntry[]>((resolve, reject) =>
      reader.readEntries(resolve, reject),
    );
    if (batch.length === 0) return files;
    for (const child of batch) if (!child.name.startsWith(".")) files.push(...(await filesOfEntry(child)));
  }
};

/** The CSV template, as a download link's address: made once from the columns the parser reads. */
const useTemplateUrl = () => {
  const [url, setUrl] = useState<string>();
  useEffect(() => {
    const made = URL.createObjectURL(new Blob([csvTemplate()], { type: "text/csv;charset=utf-8" }));
    setUrl(made);
    return () => URL.revokeObjectURL(made);
  }, []);
  return url;
};

let rowCounter = 0;

const isDone = (status: ProductStatus) => status !== "pending" && status !== "processing";

interface Photo {
  file: File;
  contentType: UploadContentType;
}

const newRow = (fields: Omit<Row, "key" | "upload" | "withoutPhoto" | "errors"> & Partial<Row>): Row => {
  rowCounter += 1;
  return {
    key: `row-${rowCounter}`,
    withoutPhoto: false,
    errors: {},
    upload: { state: "waiting" },
    ...fields,
  };
};

/** How the page names a row to the seller: its CSV line, else its photo. */
const rowName = (row: Row) => (row.line !== undefined ? `CSV line ${row.line}` : (row.file?.name ?? "a row"));

/**
 * The rows after a CSV and photos arrive, in either order or together: a CSV row takes the photo it names (a
 * new one, or one already shown with fields from its file name, whose fields it replaces); a photo takes the
 * CSV row that waits for it; a photo no row names gets a row from its file name; a row whose photo is not
 * here waits for it, flagged.
 */
const merge = (current: Row[], csvRows: CsvRow[], photos: Photo[]): Row[] => {
  const rows = [...current];
  const unclaimed = [...photos];
  for (const csvRow of csvRows) {
    const fields = {
      values: csvRow.values,
      errors: labelled(csvRow.problems),
      line: csvRow.line,
      wanted: csvRow.photo,
    };
    const name = matchPhoto(
      csvRow.photo,
      unclaimed.map((photo) => photo.file.name),
    );
    const photo = unclaimed.find((each) => each.file.name === name);
    if (photo) {
      unclaimed.splice(unclaimed.indexOf(photo), 1);
      rows.push(newRow({ ...fields, file: photo.file, contentType: photo.contentType }));
      continue;
    }
    const fromFileName = rows.filter((row) => !row.product && row.file && row.line === undefined);
    const shownName = matchPhoto(
      csvRow.photo,
      fromFileName.map((row) => row.file?.name ?? ""),
    );
    const shown = fromFileName.find((row) => row.file?.name === shownName);
    if (shown) rows[rows.indexOf(shown)] = { ...shown, ...fields };
    else rows.push(newRow(fields));
  }
  for (const photo of unclaimed) {
    const waiting = rows.find(
      (row) =>
        !row.product && !row.file && matchPhoto(row.wanted ?? "", [photo.file.name]) === photo.file.name,
    );
    if (waiting)
      rows[rows.indexOf(waiting)] = { ...waiting, file: photo.file, contentType: photo.contentType };
    else
      rows.push(
        newRow({
          file: photo.file,
          contentType: photo.contentType,
          values: valuesFromFileName(photo.file.name),
        }),
      );
  }
  return rows;
};

/** A seller's bulk upload: photos and a CSV of their fields checked in the page, one `POST /products`, then each photo to storage. */
export const NewProducts = ({ api, maxUploadBytes }: { api: Api; maxUploadBytes: number }) => {
  const [rows, setRows] = useState<Row[]>([]);
  const [refused, setRefused] = useState<Refused[]>([]);
  const [reports, setReports] = useState<CsvReport[]>([]);
  const [busy, setBusy] = useState(false);
  const [formError, setFormError] = useState<string>();
  const [dragging, setDragging] = useState(false);
  const templateUrl = useTemplateUrl();
  const rowsRef = useRef(rows);
  rowsRef.current = rows;
  const { announce } = useLive();

  const update = (key: string, change: (row: Row) => Row) =>
    setRows((current) => current.map((row) => (row.key === key ? change(row) : row)));

  useChanges({
    changes: (changes) => {
      const spoken: string[] = [];
      setRows((current) =>
        current.map((row) => {
          const change = changes.find(({ product }) => product.id === row.product?.id);
          if (!change || !row.product || row.product.status === change.product.status) return row;
          if (isDone(change.product.status))
            spoken.push(`${row.values.sku} is now ${change.product.status.replace("_", " ")}.`);
          return {
            ...row,
            product: {
              ...row.product,
              status: change.product.status,
              statusReason: change.product.statusReason,
            },
          };
        }),
      );
      if (spoken.length > 0) announce(spoken.join(" "));
    },
  });

  const addFiles = async (files: File[]) => {
    const photos: Photo[] = [];
    const bad: Refused[] = [];
    const read: CsvReport[] = [];
    const csvRows: CsvRow[] = [];
    for (const file of files) {
      if (isCsvFile(file)) {
        const decoded = decodeCsv(new Uint8Array(await file.arrayBuffer()));
        const parsed = decoded.ok
          ? parseProductsCsv(decoded.text)
          : { ok: false as const, problems: [decoded.reason] };
        if (parsed.ok) {
          read.push({
            name: file.name,
            rows: parsed.rows.length,
            problems: describeRowProblems(parsed.rows),
          });
          csvRows.push(...parsed.rows);
        } else read.push({ name: file.name, refused: parsed.problems });
        continue;
      }
      const check = await checkFile(file, maxUploadBytes);
      if (check.ok) photos.push({ file, contentType: check.contentType });
      else bad.push({ name: file.name, reason: check.reason });
    }
    setRefused(bad);
    if (read.length > 0) setReports(read);
    setRows((current) => merge(current, csvRows, photos));
  };

  const onPick = (event: ChangeEvent<HTMLInputElement>) => {
    const files = [...(event.target.files ?? [])].filter((file) => !isHidden(file));
    event.target.value = "";
    void addFiles(files);
  };

  const onDrop = (event: DragEvent<HTMLElement>) => {
    event.preventDefault();
    setDragging(false);
    // Entries must be taken while the drop event lasts; their files are read after.
    const entries = [...event.dataTransfer.items].flatMap((item) => {
      const entry = item.kind === "file" ? item.webkitGetAsEntry() : null;
      return entry ? [entry] : [];
    });
    if (entries.some((entry) => entry.isDirectory)) {
      void Promise.all(entries.map(filesOfEntry)).then(
        (lists) => addFiles(lists.flat().filter((file) => !isHidden(file))),
        (error: unknown) => setFormError(`The folder could not be read: ${String(error)}`),
      );
    } else void addFiles([...event.dataTransfer.files]);
  };

  const sendPhoto = async (key: string, fresh: boolean) => {
    const row = rowsRef.current.find((item) => item.key === key);
    if (!row?.product || !row.file || !row.contentType) return;
    const { file, contentType } = row;
    let ticket = row.ticket;
    try {
      if (fresh || !ticket || Date.parse(ticket.expiresAt) - Date.now() < 10_000) {
        ticket = (await api.createUpload(row.product.id, contentType)).upload;
        const next = ticket;
        update(key, (current) => ({ ...current, ticket: next }));
      }
      if (file.size > ticket.maxBytes) {
        update(key, (current) => ({
          ...current,
          upload: {
            state: "failed",
            message: `${file.name} is over the ${formatBytes(ticket?.maxBytes ?? 0)} limit`,
            needsTicket: false,
          },
        }));
        return;
      }
      update(key, (current) => ({ ...current, upload: { state: "sending", progress: 0 } }));
      await uploadWithTicket(ticket, file, (progress) =>
        update(key, (current) =>
          current.upload.state === "sending"
            ? { ...current, upload: { state: "sending", progress } }
            : current,
        ),
      );
      update(key, (current) => ({ ...current, upload: { state: "sent" } }));
    } catch (error) {
      if (error instanceof SignedOutError) return;
      update(key, (current) => ({
        ...current,
        upload: {
          state: "failed",
          message: error instanceof Error ? error.message : String(error),
          needsTicket: error instanceof UploadError ? error.refused : true,
        },
      }));
    }
  };

  /** The API's own checks of every row about to be sent, with skus repeated among them: problems by row key. */
  const checkRows = (pending: Row[]) => {
    const repeated = duplicateSkus(pending.map((row) => row.values.sku));
    return new Map(
      pending.map((row, index): [string, Partial<Record<Field, string>>] => {
        const problems = labelled(checkProduct(row.values));
        const earlier = pending[repeated[index] ?? -1];
        if (earlier && !problems.sku)
          problems.sku = `SKU ${row.values.sku.trim()} is also the sku of ${rowName(earlier)}`;
        return [row.key, problems];
      }),
    );
  };

  const submit = async () => {
    const pending = rows.filter(isSendable);
    if (pending.length === 0) return;
    if (pending.length > MAX_PER_REQUEST) {
      setFormError(
        `At most ${MAX_PER_REQUEST} products at a time: remove ${pending.length - MAX_PER_REQUEST}.`,
      );
      return;
    }
    // Nothing is sent while a row would be refused: the page knows the API's rules (csv.ts).
    const checked = checkRows(pending);
    const count = [...checked.values()].reduce((sum, problems) => sum + Object.keys(problems).length, 0);
    setRows((current) => current.map((row) => ({ ...row, errors: checked.get(row.key) ?? row.errors })));
    if (count > 0) {
      setFormError(`Nothing was sent: ${count} problem(s), shown against each field.`);
      return;
    }
    setBusy(true);
    setFormError(undefined);
    try {
      const answer = await api.createProducts({
        products: pending.map((row) => ({
          ...row.values,
          // A product created without its photo declares a type it never uses: its page asks a fresh ticket
          // with the type of the photo uploaded there.
          contentType: row.contentType ?? "image/jpeg",
        })),
      });
      const byKey = new Map<string, CreatedProduct>();
      pending.forEach((row, index) => {
        const product = answer.products[index];
        if (product) byKey.set(row.key, product);
      });
      const next = rowsRef.current.map((row): Row => {
        const product = byKey.get(row.key);
        if (!product) return row;
        return {
          ...row,
          product: { id: product.id, status: product.status, statusReason: product.statusReason },
          ticket: product.upload,
          upload: !row.file
            ? { state: "none" }
            : product.upload
              ? row.upload
              : { state: "failed", message: "this product takes no more photos", needsTicket: false },
        };
      });
      rowsRef.current = next;
      setRows(next);
      await runLimited(
        next
          .filter((row) => byKey.has(row.key) && row.ticket && row.file)
          .map((row) => () => sendPhoto(row.key, false)),
        UPLOAD_CONCURRENCY,
      );
    } catch (error) {
      if (error instanceof SignedOutError) return;
      if (error instanceof ApiError && error.details.length > 0) {
        const problems = new Map<string, Partial<Record<Field, string>>>();
        const general: string[] = [];
        for (const { path, message } of error.details) {
          const match = /^products\[(\d+)\]\.(\w+)$/.exec(path);
          const row = match ? pending[Number(match[1])] : undefined;
          const field = match?.[2] as Field | undefined;
          if (row && field && FIELDS.some((item) => item.name === field)) {
            problems.set(row.key, {
              ...problems.get(row.key),
              [field]: `${FIELDS.find((item) => item.name === field)?.label} ${message}`,
            });
          } else general.push(`${path}: ${message}`);
        }
        setRows((current) => current.map((row) => ({ ...row, errors: problems.get(row.key) ?? {} })));
        setFormError(
          `Nothing was created: ${error.details.length} problem(s), shown against each field.${general.length ? ` ${general.join("; ")}` : ""}`,
        );
      } else {
        setFormError(`Nothing was created: ${error instanceof Error ? error.message : String(error)}`);
      }
    } finally {
      setBusy(false);
    }
  };

  const sendable = rows.filter(isSendable).length;
  const waitingForPhoto = rows.filter((row) => !row.product && !row.file && !row.withoutPhoto).length;
  const csvRead = reports.some((report) => "rows" in report);
  const unnamed = csvRead
    ? rows.filter((row) => !row.product && row.file && row.line === undefined).length
    : 0;

  return (
    <>
      <PageHeading title="New products">New products</PageHeading>
      <p>
        Pick photos, and optionally a CSV of their fields: each photo becomes a product. Photos are checked
        here first (JPEG, PNG, WebP, AVIF, TIFF or GIF, by their bytes; at most {formatBytes(maxUploadBytes)}{" "}
        each), then sent {UPLOAD_CONCURRENCY} at a time.
      </p>
      <p>
        The CSV has a header row and a product per row, at most {MAX_CSV_ROWS}: the columns{" "}
        {CSV_COLUMNS.map((column) => column.name).join(", ")} (discount may be left out; photo is the photo's
        file name).{" "}
        {templateUrl ? (
          <a href={templateUrl} download={TEMPLATE_FILE_NAME}>
            Download CSV template
          </a>
        ) : null}
      </p>
      <section
        aria-label="Photos"
        className={`drop-zone${dragging ? " drop-zone-active" : ""}`}
        onDragOver={(event) => {
          event.preventDefault();
          setDragging(true);
        }}
        onDragLeave={() => setDragging(false)}
        onDrop={onDrop}
      >
        <label htmlFor="photos">Choose photos and a CSV (or drop them, or a folder, here)</label>
        <input id="photos" type="file" multiple accept="image/*,.csv,text/csv" onChange={onPick} />
        <label htmlFor="folder">Pick a folder of photos (with its CSV)</label>
        <input
          id="folder"
          type="file"
          multiple
          // Not in React's types; every browser this page supports knows it.
          ref={(input) => input?.setAttribute("webkitdirectory", "")}
          onChange={onPick}
        />
      </section>
      {reports.map((report) =>
        "refused" in report ? (
          <div key={report.name} className="notice notice-error" role="alert">
            <p>
              <strong>{report.name}</strong> was not read, so no row of it was added:
            </p>
            <ul aria-label={`Problems of ${report.name}`}>
              {report.refused.map((problem) => (
                <li key={problem}>{problem}</li>
              ))}
            </ul>
          </div>
        ) : (
          <div
            key={report.name}
            className={report.problems.length > 0 ? "notice notice-error" : "notice"}
            role={report.problems.length > 0 ? "alert" : "status"}
          >
            <p>
              <strong>{report.name}</strong>: {report.rows} row{report.rows === 1 ? "" : "s"} read.
              {report.problems.length > 0
                ? ` ${report.problems.length} problem(s) in the file, each shown on its row below until it is fixed:`
                : ""}
            </p>
            {report.problems.length > 0 ? (
              <ul aria-label={`Problems of ${report.name}`}>
                {report.problems.map((problem) => (
                  <li key={problem}>{problem}</li>
                ))}
              </ul>
            ) : null}
          </div>
        ),
      )}
      {refused.length > 0 ? (
        <div className="notice notice-error" role="alert">
          <p>Not added (nothing of these was sent):</p>
          <ul aria-label="Refused files">
            {refused.map((item) => (
              <li key={item.name}>
                <strong>{item.name}</strong>: {item.reason}
              </li>
            ))}
          </ul>
        </div>
      ) : null}
      {rows.length > 0 ? (
        <form
          onSubmit={(event) => {
            event.preventDefault();
            void submit();
          }}
        >
          <ul className="new-products" aria-label="New products">
            {rows.map((row, index) => (
              <ProductRow
                key={row.key}
                row={row}
                index={index}
                csvRead={csvRead}
                takenBy={
                  row.file
                    ? undefined
                    : rows.find(
                        (other) =>
                          other.file && matchPhoto(row.wanted ?? "", [other.file.name]) !== undefined,
                      )
                }
                refusedAs={
                  row.file
                    ? undefined
                    : refused.find((item) => matchPhoto(row.wanted ?? "", [item.name]) !== undefined)?.reason
                }
                onChange={(field, value) =>
                  update(row.key, (current) => {
                    const values = { ...current.values, [field]: value };
                    // The field is checked again as it is typed: its message goes once it is right.
                    return { ...current, values, errors: labelled(checkProduct(values)) };
                  })
                }
                onWithoutPhoto={(withoutPhoto) =>
                  update(row.key, (current) => ({ ...current, withoutPhoto }))
                }
                onRemove={() => setRows((current) => current.filter((item) => item.key !== row.key))}
                onRetry={() =>
                  void sendPhoto(row.key, row.upload.state === "failed" && row.upload.needsTicket)
                }
              />
            ))}
          </ul>
          {formError ? (
            <div className="notice notice-error" role="alert" id="form-error">
              <p>{formError}</p>
            </div>
          ) : null}
          {waitingForPhoto > 0 || unnamed > 0 ? (
            <p className="hint">
              {waitingForPhoto > 0
                ? `${waitingForPhoto} row(s) wait for their photo and are not sent: add the photo, or tick “Create without a photo”. `
                : ""}
              {unnamed > 0
                ? `${unnamed} photo(s) no CSV row names: their fields come from their file names.`
                : ""}
            </p>
          ) : null}
          <p>
            <button type="submit" disabled={busy || sendable === 0}>
              {busy ? "Working…" : `Create and upload${sendable > 0 ? ` (${sendable})` : ""}`}
            </button>
          </p>
        </form>
      ) : null}
    </>
  );
};

const ProductRow = ({
  row,
  index,
  csvRead,
  takenBy,
  refusedAs,
  onChange,
  onWithoutPhoto,
  onRemove,
  onRetry,
}: {
  row: Row;
  index: number;
  csvRead: boolean;
  takenBy: Row | undefined;
  /** Why the photo the row names was refused, when it was. */
  refusedAs: string | undefined;
  onChange: (field: Field, value: string) => void;
  onWithoutPhoto: (withoutPhoto: boolean) => void;
  onRemove: () => void;
  onRetry: () => void;
}) => {
  const id = (field: string) => `${row.key}-${field}`;
  const locked = row.product !== undefined;
  const progress = row.upload.state === "sending" ? row.upload.progress : row.upload.state === "sent" ? 1 : 0;
  const name = rowName(row);
  return (
    <li className="new-product" aria-label={`Product ${index + 1}: ${row.file?.name ?? name}`}>
      <p className="file-name">
        {row.file ? (
          <>
            <strong>{row.file.name}</strong>{" "}
            <span className="muted">
              ({row.contentType}, {formatBytes(row.file.size)})
            </span>
          </>
        ) : (
          <strong>No photo</strong>
        )}
        {row.line !== undefined ? <span className="tag">CSV line {row.line}</span> : null}
        {row.line === undefined && csvRead && !locked ? (
          <span className="muted"> · not in the CSV: fields from its file name</span>
        ) : null}
      </p>
      {!row.file && !locked ? (
        <div className="notice notice-error">
          <p id={id("photo-missing")}>
            {row.wanted
              ? refusedAs
                ? `“${row.wanted}” was not added (${refusedAs}): pick another photo of that name, or create this product without a photo.`
                : takenBy
                  ? `“${row.wanted}” is already the photo of ${rowName(takenBy)}: pick it again for this row, or create this product without a photo.`
                  : `No photo named “${row.wanted}” was picked: add it (choose or drop it), or create this product without a photo and upload one from its page later.`
              : "This row names no photo: add one named in its photo column, or create the product without a photo."}
          </p>
          <label className="choice">
            <input
              type="checkbox"
              checked={row.withoutPhoto}
              aria-describedby={id("photo-missing")}
              onChange={(event) => onWithoutPhoto(event.target.checked)}
            />
            Create {row.values.sku || name} without a photo
          </label>
        </div>
      ) : null}
      <div className="fields">
        {FIELDS.map((field) => {
          const error = row.errors[field.name];
          return (
            <div key={field.name} className="field">
              <label htmlFor={id(field.name)}>{field.label}</label>
              <input
                id={id(field.name)}
                value={row.values[field.name]}
                inputMode={field.inputMode}
                readOnly={locked}
                aria-invalid={error ? true : undefined}
                aria-describedby={error ? id(`${field.name}-error`) : undefined}
                onChange={(event) => onChange(field.name, event.target.value)}
              />
              {error ? (
                <p className="field-error" id={id(`${field.name}-error`)}>
                  {error}
                </p>
              ) : null}
            </div>
          );
        })}
      </div>
      {row.product ? (
        <div className="upload-state">
          {row.file ? (
            <>
              <label htmlFor={id("progress")}>Upload of {row.file.name}</label>
              <progress id={id("progress")} max={100} value={Math.round(progress * 100)}>
                {Math.round(progress * 100)}%
              </progress>
              <span className="progress-text">{Math.round(progress * 100)}%</span>
            </>
          ) : (
            <p className="muted">Created without a photo: upload one from its page.</p>
          )}
          {row.upload.state === "failed" ? (
            <p className="field-error">
              Upload failed: {row.upload.message}.{" "}
              <button type="button" onClick={onRetry}>
                Retry
              </button>
            </p>
          ) : null}
          <p className="status-line">
            <StatusBadge status={row.product.status} />{" "}
            {row.product.statusReason ? <span className="reason">{row.product.statusReason}</span> : null}{" "}
            <Link href={`/product/${row.product.id}`}>Open {row.values.sku}</Link>
          </p>
        </div>
      ) : (
        <p>
          <button type="button" onClick={onRemove}>
            Remove {row.file?.name ?? name}
          </button>
        </p>
      )}
    </li>
  );
};
