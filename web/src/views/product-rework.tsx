import { type ChangeEvent, type FormEvent, useRef, useState } from "react";
import { variantSpecSchema } from "../../../lambdas/engine/variant-spec.ts";
import { MODES, OUTPUT_FORMATS, PROFILE_NAMES } from "../../../lambdas/engine/vocabulary.ts";
import {
  type Api,
  ApiError,
  type ProductView,
  type ReenhanceRequest,
  SignedOutError,
  type UploadContentType,
  type UploadTicket,
} from "../api.ts";
import type { Session } from "../session.ts";
import { STATUS_LABELS } from "../status.ts";
import { formatBytes } from "../ui.tsx";
import { checkFile, UploadError, uploadWithTicket } from "../upload.ts";
import "./product-rework.css";

/** The file name a variant downloads as: the sku, the variant and its sequence, the format's usual extension. */
export const downloadName = (sku: string, image: { variant: string; sequence: number; format: string }) =>
  `${sku}-${image.variant}-${image.sequence}.${image.format === "jpeg" ? "jpg" : image.format}`;

/**
 * Below the product's facts: a download of every current variant (for anyone who may see the product) and, for
 * its seller, a new photo and a re-enhancement, each of which starts a new sequence that the page follows live
 * (the product page loads the product again on each change of it in the feed).
 */
export const ProductRework = ({
  api,
  product,
  session,
  maxUploadBytes,
}: {
  api: Api;
  product: ProductView;
  session: Session;
  maxUploadBytes: number;
}) => {
  const reviewer = session.roles.includes("reviewer");
  // A seller sees only their own products; someone who is both may be looking at another seller's.
  const owner = session.roles.includes("seller") && (!reviewer || product.sellerId === session.name);
  return (
    <>
      {product.images.length > 0 ? (
        <section aria-labelledby="downloads-heading">
          <h2 id="downloads-heading">Downloads</h2>
          <ul className="downloads">
            {product.images.map((image) => (
              <li key={`${image.sequence}-${image.variant}`}>
                <a href={image.url} download={downloadName(product.sku, image)}>
                  Download {image.variant}
                </a>{" "}
                <span className="muted">
                  ({image.format.toUpperCase()}, {image.width}×{image.height}, {formatBytes(image.bytes)},
                  sequence {image.sequence})
                </span>
              </li>
            ))}
          </ul>
        </section>
      ) : null}
      {owner ? (
        <section aria-labelledby="rework-heading" className="rework">
          <h2 id="rework-heading">Photo and variants</h2>
          <NewPhoto api={api} product={product} maxUploadBytes={maxUploadBytes} />
          <Reenhance api={api} product={product} />
        </section>
      ) : null}
    </>
  );
};

type Sending =
  | { state: "idle" }
  | { state: "sending"; name: string; progress: number }
  | { state: "sent"; name: string; sequence: number }
  | { state: "failed"; name: string; message: string; needsTicket: boolean };

/** A new photo for the product: checked by its bytes and size, then sent with a fresh presigned POST. */
const NewPhoto = ({
  api,
  product,
  maxUploadBytes,
}: {
  api: Api;
  product: ProductView;
  maxUploadBytes: number;
}) => {
  const [refused, setRefused] = useState<string>();
  const [sending, setSending] = useState<Sending>({ state: "idle" });
  const picked = useRef<{ file: File; contentType: UploadContentType; ticket?: UploadTicket }>(undefined);

  const send = async (fresh: boolean) => {
    const photo = picked.current;
    if (!photo) return;
    const { file, contentType } = photo;
    try {
      let ticket = photo.ticket;
      if (fresh || !ticket || Date.parse(ticket.expiresAt) - Date.now() < 10_000) {
        ticket = (await api.createUpload(product.id, contentType)).upload;
        photo.ticket = ticket;
      }
      // The ticket carries the API's own limit, which may be lower than the page's default.
      if (file.size > ticket.maxBytes) {
        setSending({ state: "idle" });
        setRefused(`${file.name} was not sent: it is over the ${formatBytes(ticket.maxBytes)} limit.`);
        return;
      }
      setSending({ state: "sending", name: file.name, progress: 0 });
      await uploadWithTicket(ticket, file, (progress) =>
        setSending((current) => (current.state === "sending" ? { ...current, progress } : current)),
      );
      setSending({ state: "sent", name: file.name, sequence: product.sequence });
    } catch (error) {
      if (error instanceof SignedOutError) return;
      setSending({
        state: "failed",
        name: file.name,
        message: error instanceof Error ? error.message : String(error),
        // A refused or expired ticket, or the API's refusal to issue one: the next try asks for a fresh one.
        needsTicket: error instanceof UploadError ? error.refused : true,
      });
    }
  };

  const onPick = async (event: ChangeEvent<HTMLInputElement>) => {
    const file = event.target.files?.[0];
    event.target.value = "";
    if (!file) return;
    setRefused(undefined);
    const check = await checkFile(file, maxUploadBytes);
    if (!check.ok) {
      picked.current = undefined;
      setSending({ state: "idle" });
      setRefused(`${file.name} was not sent: ${check.reason}.`);
      return;
    }
    picked.current = { file, contentType: check.contentType };
    await send(true);
  };

  if (product.status === "approved") {
    return (
      <section className="rework-part" aria-labelledby="new-photo-heading">
        <h3 id="new-photo-heading">Upload a new photo</h3>
        <p className="muted">An approved product takes no new photo.</p>
      </section>
    );
  }
  const percent = sending.state === "sending" ? Math.round(sending.progress * 100) : 100;
  return (
    <section className="rework-part" aria-labelledby="new-photo-heading">
      <h3 id="new-photo-heading">Upload a new photo</h3>
      <p className="hint" id="new-photo-hint">
        It replaces the current one: the product goes through processing and review again, as a new sequence.
      </p>
      <label htmlFor="new-photo">New photo for {product.sku}</label>
      <input
        id="new-photo"
        type="file"
        accept="image/*"
        aria-describedby="new-photo-hint"
        disabled={sending.state === "sending"}
        onChange={(event) => void onPick(event)}
      />
      {refused ? (
        <p className="field-error" role="alert">
          {refused}
        </p>
      ) : null}
      {sending.state === "sending" || sending.state === "sent" ? (
        <div className="upload-state">
          <label htmlFor="new-photo-progress">Upload of {sending.name}</label>
          <progress id="new-photo-progress" max={100} value={percent}>
            {percent}%
          </progress>
          <span className="progress-text">{percent}%</span>
        </div>
      ) : null}
      {sending.state === "sent" ? (
        <p role="status">
          {sending.name} was sent.{" "}
          {product.sequence > sending.sequence
            ? `It is sequence ${product.sequence}: ${STATUS_LABELS[product.status].toLowerCase()}.`
            : "It is being processed: this page follows it."}
        </p>
      ) : null}
      {sending.state === "failed" ? (
        <p className="field-error" role="alert">
          Upload of {sending.name} failed: {sending.message}.{" "}
          <button type="button" onClick={() => void send(sending.needsTicket)}>
            Retry
          </button>
        </p>
      ) : null}
    </section>
  );
};

type ReenhanceField = "mode" | "profile" | "format" | "targetKb";

/** A whole number of KB, or what the API's own rule says of the text (empty: no target size). */
const parseTargetKb = (
  text: string,
): { ok: true; value: number | undefined } | { ok: false; message: string } => {
  if (text.trim() === "") return { ok: true, value: undefined };
  const result = variantSpecSchema.shape.targetKb.safeParse(Number(text.trim()));
  return result.success
    ? { ok: true, value: result.data }
    : { ok: false, message: result.error.issues[0]?.message ?? "is not valid" };
};

const REENHANCEABLE: readonly ProductView["status"][] = ["pending_review", "rejected", "failed"];

/** One chosen variant of the latest original, as `POST /products/{id}/enhance` takes it. */
const Reenhance = ({ api, product }: { api: Api; product: ProductView }) => {
  const [mode, setMode] = useState<ReenhanceRequest["mode"]>("AUTO");
  const [profile, setProfile] = useState("");
  const [format, setFormat] = useState<(typeof OUTPUT_FORMATS)[number]>("jpeg");
  const [targetKb, setTargetKb] = useState("");
  const [errors, setErrors] = useState<Partial<Record<ReenhanceField, string>>>({});
  const [outcome, setOutcome] = useState<{ text: string; error: boolean; from?: number }>();
  const [busy, setBusy] = useState(false);
  const targetRef = useRef<HTMLInputElement>(null);

  const possible = REENHANCEABLE.includes(product.status) && product.sequence > 0;

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const target = parseTargetKb(targetKb);
    if (!target.ok) {
      setErrors({ targetKb: `Target size ${target.message}.` });
      targetRef.current?.focus();
      return;
    }
    setErrors({});
    setBusy(true);
    setOutcome(undefined);
    const request: ReenhanceRequest = {
      mode,
      format,
      ...(profile ? { profile: profile as (typeof PROFILE_NAMES)[number] } : {}),
      ...(target.value === undefined ? {} : { targetKb: target.value }),
    };
    try {
      const accepted = await api.reenhanceProduct(product.id, request);
      setOutcome({
        text: `Queued: the ${accepted.variant.name} variant (${accepted.variant.mode}, ${accepted.variant.format ?? format}${accepted.variant.targetKb ? `, ${accepted.variant.targetKb} KB` : ""}) comes as a new sequence after ${product.sequence}.`,
        error: false,
        from: product.sequence,
      });
    } catch (error) {
      if (error instanceof SignedOutError) return;
      if (error instanceof ApiError && error.details.length > 0) {
        const labels: Record<ReenhanceField, string> = {
          mode: "Mode",
          profile: "Profile",
          format: "Format",
          targetKb: "Target size",
        };
        const found: Partial<Record<ReenhanceField, string>> = {};
        const other: string[] = [];
        for (const { path, message } of error.details) {
          if (path in labels) found[path as ReenhanceField] = `${labels[path as ReenhanceField]} ${message}.`;
          else other.push(`${path}: ${message}`);
        }
        setErrors(found);
        setOutcome({
          text: `Not re-enhanced: ${error.message}.${other.length ? ` ${other.join("; ")}` : ""}`,
          error: true,
        });
      } else {
        setOutcome({
          text: `Not re-enhanced: ${error instanceof Error ? error.message : String(error)}.`,
          error: true,
        });
      }
    } finally {
      setBusy(false);
    }
  };

  const describedBy = (field: ReenhanceField, hint?: string) =>
    [errors[field] ? `reenhance-${field}-error` : "", hint ?? ""].filter(Boolean).join(" ") || undefined;
  const fieldError = (field: ReenhanceField) =>
    errors[field] ? (
      <p className="field-error" id={`reenhance-${field}-error`}>
        {errors[field]}
      </p>
    ) : null;
  const arrived = outcome?.from !== undefined && product.sequence > outcome.from;

  return (
    <form
      className="rework-part"
      aria-labelledby="reenhance-heading"
      onSubmit={(event) => void submit(event)}
      noValidate
    >
      <h3 id="reenhance-heading">Re-enhance</h3>
      <p className="hint" id="reenhance-hint">
        {possible
          ? "Makes one chosen variant of the latest photo, as a new sequence; the product goes to review again."
          : `Possible once the product has a processed photo and is in review, rejected or failed (it is ${STATUS_LABELS[product.status].toLowerCase()}).`}
      </p>
      <div className="rework-fields">
        <div className="field">
          <label htmlFor="reenhance-mode">Mode</label>
          <select
            id="reenhance-mode"
            value={mode}
            aria-describedby={describedBy("mode")}
            onChange={(event) => setMode(event.target.value as ReenhanceRequest["mode"])}
          >
            {MODES.map((each) => (
              <option key={each} value={each}>
                {each}
              </option>
            ))}
          </select>
          {fieldError("mode")}
        </div>
        <div className="field">
          <label htmlFor="reenhance-profile">Marketplace profile</label>
          <select
            id="reenhance-profile"
            value={profile}
            aria-describedby={describedBy("profile")}
            onChange={(event) => setProfile(event.target.value)}
          >
            <option value="">none</option>
            {PROFILE_NAMES.map((each) => (
              <option key={each} value={each}>
                {each}
              </option>
            ))}
          </select>
          {fieldError("profile")}
        </div>
        <div className="field">
          <label htmlFor="reenhance-format">Format</label>
          <select
            id="reenhance-format"
            value={format}
            aria-describedby={describedBy("format")}
            onChange={(event) => setFormat(event.target.value as (typeof OUTPUT_FORMATS)[number])}
          >
            {OUTPUT_FORMATS.map((each) => (
              <option key={each} value={each}>
                {each}
              </option>
            ))}
          </select>
          {fieldError("format")}
        </div>
        <div className="field">
          <label htmlFor="reenhance-target">Target size (KB)</label>
          <input
            id="reenhance-target"
            ref={targetRef}
            inputMode="numeric"
            value={targetKb}
            aria-invalid={errors.targetKb ? true : undefined}
            aria-describedby={describedBy("targetKb", "reenhance-target-hint")}
            onChange={(event) => setTargetKb(event.target.value)}
          />
          <p className="hint" id="reenhance-target-hint">
            50–2000, or empty for none
          </p>
          {fieldError("targetKb")}
        </div>
      </div>
      <p>
        <button type="submit" disabled={busy || !possible} aria-describedby="reenhance-hint">
          {busy ? "Sending…" : "Re-enhance"}
        </button>
      </p>
      {outcome ? (
        <p className={outcome.error ? "field-error" : undefined} role={outcome.error ? "alert" : "status"}>
          {outcome.text}
          {arrived
            ? ` Sequence ${product.sequence} is here: ${STATUS_LABELS[product.status].toLowerCase()}.`
            : ""}
        </p>
      ) : null}
    </form>
  );
};
