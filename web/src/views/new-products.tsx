import { type ChangeEvent, type DragEvent, useRef, useState } from "react";
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

/** The API's limit on one `POST /products` (`MAX_PRODUCTS_PER_REQUEST` in lambdas/domain/product-input.ts). */
const MAX_PER_REQUEST = 500;

type Field = Exclude<keyof NewProductInput, "contentType">;
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
  | { state: "sending"; progress: number }
  | { state: "sent" }
  | { state: "failed"; message: string; needsTicket: boolean };

interface Row {
  key: string;
  file: File;
  contentType: UploadContentType;
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

let rowCounter = 0;

const isDone = (status: ProductStatus) => status !== "pending" && status !== "processing";

/** A seller's bulk upload: photos checked in the page, one `POST /products`, then each photo to storage. */
export const NewProducts = ({ api, maxUploadBytes }: { api: Api; maxUploadBytes: number }) => {
  const [rows, setRows] = useState<Row[]>([]);
  const [refused, setRefused] = useState<Refused[]>([]);
  const [busy, setBusy] = useState(false);
  const [formError, setFormError] = useState<string>();
  const [dragging, setDragging] = useState(false);
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
    const added: Row[] = [];
    const bad: Refused[] = [];
    for (const file of files) {
      const check = await checkFile(file, maxUploadBytes);
      if (!check.ok) {
        bad.push({ name: file.name, reason: check.reason });
        continue;
      }
      rowCounter += 1;
      added.push({
        key: `row-${rowCounter}`,
        file,
        contentType: check.contentType,
        values: {
          sku: skuFromFileName(file.name),
          title: titleFromFileName(file.name),
          category: "general",
          mrp: "100.00",
          price: "100.00",
          discount: "0",
          gst: "18",
        },
        errors: {},
        upload: { state: "waiting" },
      });
    }
    setRefused(bad);
    setRows((current) => [...current, ...added]);
  };

  const onPick = (event: ChangeEvent<HTMLInputElement>) => {
    const files = [...(event.target.files ?? [])];
    event.target.value = "";
    void addFiles(files);
  };

  const onDrop = (event: DragEvent<HTMLElement>) => {
    event.preventDefault();
    setDragging(false);
    void addFiles([...event.dataTransfer.files]);
  };

  const sendPhoto = async (key: string, fresh: boolean) => {
    const row = rowsRef.current.find((item) => item.key === key);
    if (!row?.product) return;
    let ticket = row.ticket;
    try {
      if (fresh || !ticket || Date.parse(ticket.expiresAt) - Date.now() < 10_000) {
        ticket = (await api.createUpload(row.product.id, row.contentType)).upload;
        const next = ticket;
        update(key, (current) => ({ ...current, ticket: next }));
      }
      if (row.file.size > ticket.maxBytes) {
        update(key, (current) => ({
          ...current,
          upload: {
            state: "failed",
            message: `${row.file.name} is over the ${formatBytes(ticket?.maxBytes ?? 0)} limit`,
            needsTicket: false,
          },
        }));
        return;
      }
      update(key, (current) => ({ ...current, upload: { state: "sending", progress: 0 } }));
      await uploadWithTicket(ticket, row.file, (progress) =>
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

  const submit = async () => {
    const pending = rows.filter((row) => !row.product);
    if (pending.length === 0) return;
    if (pending.length > MAX_PER_REQUEST) {
      setFormError(
        `At most ${MAX_PER_REQUEST} products at a time: remove ${pending.length - MAX_PER_REQUEST}.`,
      );
      return;
    }
    setBusy(true);
    setFormError(undefined);
    setRows((current) => current.map((row) => ({ ...row, errors: {} })));
    try {
      const answer = await api.createProducts({
        products: pending.map((row) => ({ ...row.values, contentType: row.contentType })),
      });
      const byKey = new Map<string, CreatedProduct>();
      pending.forEach((row, index) => {
        const product = answer.products[index];
        if (product) byKey.set(row.key, product);
      });
      const next = rowsRef.current.map((row) => {
        const product = byKey.get(row.key);
        if (!product) return row;
        return {
          ...row,
          product: { id: product.id, status: product.status, statusReason: product.statusReason },
          ticket: product.upload,
          upload: product.upload
            ? row.upload
            : ({
                state: "failed",
                message: "this product takes no more photos",
                needsTicket: false,
              } as const),
        };
      });
      rowsRef.current = next;
      setRows(next);
      await runLimited(
        next.filter((row) => byKey.has(row.key) && row.ticket).map((row) => () => sendPhoto(row.key, false)),
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

  const unsent = rows.filter((row) => !row.product).length;

  return (
    <>
      <PageHeading title="New products">New products</PageHeading>
      <p>
        Pick photos: each becomes a product. Photos are checked here first (JPEG, PNG, WebP, AVIF, TIFF or
        GIF, by their bytes; at most {formatBytes(maxUploadBytes)} each), then sent {UPLOAD_CONCURRENCY} at a
        time.
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
        <label htmlFor="photos">Choose photos (or drop them here)</label>
        <input id="photos" type="file" multiple accept="image/*" onChange={onPick} />
      </section>
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
                onChange={(field, value) =>
                  update(row.key, (current) => ({
                    ...current,
                    values: { ...current.values, [field]: value },
                  }))
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
          <p>
            <button type="submit" disabled={busy || unsent === 0}>
              {busy ? "Working…" : "Create and upload"}
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
  onChange,
  onRemove,
  onRetry,
}: {
  row: Row;
  index: number;
  onChange: (field: Field, value: string) => void;
  onRemove: () => void;
  onRetry: () => void;
}) => {
  const id = (field: string) => `${row.key}-${field}`;
  const locked = row.product !== undefined;
  const progress = row.upload.state === "sending" ? row.upload.progress : row.upload.state === "sent" ? 1 : 0;
  return (
    <li className="new-product" aria-label={`Photo ${index + 1}: ${row.file.name}`}>
      <p className="file-name">
        <strong>{row.file.name}</strong>{" "}
        <span className="muted">
          ({row.contentType}, {formatBytes(row.file.size)})
        </span>
      </p>
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
          <label htmlFor={id("progress")}>Upload of {row.file.name}</label>
          <progress id={id("progress")} max={100} value={Math.round(progress * 100)}>
            {Math.round(progress * 100)}%
          </progress>
          <span className="progress-text">{Math.round(progress * 100)}%</span>
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
            Remove {row.file.name}
          </button>
        </p>
      )}
    </li>
  );
};
