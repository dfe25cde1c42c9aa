import { z } from "zod";
import { type Caller, isReviewer } from "./caller.ts";
import { AppError } from "./errors.ts";
import type { ChangeRow, IdRange } from "./ports.ts";
import { type ApiDeps, listItem } from "./products.ts";
import type { ChangeEventJson, ChangesResponse, ProductChange } from "./views.ts";

/**
 * `GET /changes`: what changed for the caller since a cursor, read from `enhancement_history`, which is
 * append-only and gets a row for every status change, variant, review decision and AI result.
 *
 * The cursor is the last history id the caller has seen, and the gaps below it. An id is taken when its row
 * is inserted, but its transaction may commit after a later id's (a worker's sequence writes its variants,
 * then more, before it commits; a review commits in between): a reader that only kept the highest id would
 * skip that row for ever. So a cursor also names the ids below it that were missing when it was made, each
 * read again until its row appears or `gapWatchSeconds` pass (a rolled-back insert leaves a gap for good).
 */
export const CHANGES = {
  /** Products per answer. */
  products: 100,
  /** History rows read per call, whoever's they are: one call's work stays bounded whatever the backlog. */
  rows: 500,
  /** Events per product in one answer, the latest; the product's history has them all. */
  eventsPerProduct: 10,
  /** Gaps one cursor carries at most; past that, the oldest are given up. */
  gaps: 32,
  /**
   * How long a gap is read again. A transaction commits within seconds, unless it waits on a lock (InnoDB gives
   * up after 50 s by default); one that never commits leaves its gap for good.
   */
  gapWatchSeconds: 120,
  /** A new cursor looks for gaps among this many of the newest ids. */
  startWindow: 100,
} as const;

export const changesQuerySchema = z
  .object({
    since: z.string().max(4096, "is not a cursor this API returned").optional().meta({
      description:
        "the `cursor` of the previous answer; leave it out to get the current cursor (and no changes)",
    }),
  })
  .strict();

/** A gap: ids missing below the cursor when it was made, and when they were first found missing (ms). */
interface Gap extends IdRange {
  seenAt: number;
}

interface Cursor {
  after: number;
  gaps: Gap[];
}

const storedCursorSchema = z
  .object({
    after: z.number().int().min(0),
    /** [from, to, seen at in epoch seconds] */
    gaps: z
      .array(z.tuple([z.number().int().min(1), z.number().int().min(1), z.number().int().min(0)]))
      .max(CHANGES.gaps)
      .optional(),
  })
  .strict();

/** Opaque to clients: base64url JSON, gaps only when there are any. */
const encodeCursor = ({ after, gaps }: Cursor): string =>
  Buffer.from(
    JSON.stringify(
      gaps.length === 0
        ? { after }
        : { after, gaps: gaps.map((gap) => [gap.from, gap.to, Math.floor(gap.seenAt / 1000)]) },
    ),
  ).toString("base64url");

const invalidSince = (message: string) =>
  new AppError("VALIDATION_FAILED", "the request has 1 invalid field(s)", [{ path: "since", message }]);

const decodeCursor = (since: string): Cursor => {
  let parsed: z.output<typeof storedCursorSchema> | undefined;
  try {
    parsed = storedCursorSchema.parse(JSON.parse(Buffer.from(since, "base64url").toString("utf8")));
  } catch {}
  const gaps = (parsed?.gaps ?? []).map(([from, to, seenAt]) => ({ from, to, seenAt: seenAt * 1000 }));
  // Another route's cursor, or text this API never wrote, would skip or repeat changes.
  if (!parsed || gaps.some((gap) => gap.from > gap.to || gap.to >= parsed.after)) {
    throw invalidSince("is not a cursor this API returned");
  }
  return { after: parsed.after, gaps };
};

/** The parts of the range that none of the ids (ascending) fall in. */
const without = (range: IdRange, ids: readonly number[]): IdRange[] => {
  const parts: IdRange[] = [];
  let from = range.from;
  for (const id of ids) {
    if (id < from) continue;
    if (id > range.to) break;
    if (id > from) parts.push({ from, to: id - 1 });
    from = id + 1;
  }
  if (from <= range.to) parts.push({ from, to: range.to });
  return parts;
};

/** At most `CHANGES.gaps`, the most recently found kept, in id order. */
const capGaps = (gaps: Gap[]): Gap[] =>
  [...gaps]
    .sort((a, b) => b.seenAt - a.seenAt || b.from - a.from)
    .slice(0, CHANGES.gaps)
    .sort((a, b) => a.from - b.from);

/** A cursor at the newest id, with the gaps among the newest ids: rows still being written below it. */
const startCursor = (newestIds: readonly number[], now: number): Cursor => {
  const after = newestIds[0] ?? 0;
  const oldest = newestIds.at(-1);
  if (oldest === undefined) return { after, gaps: [] };
  const present = [...newestIds].reverse();
  const gaps = without({ from: oldest, to: after }, present).map((range) => ({ ...range, seenAt: now }));
  return { after, gaps: capGaps(gaps) };
};

const eventJson = (row: ChangeRow): ChangeEventJson => ({
  id: row.id,
  event: row.event,
  variant: row.variant,
  toStatus: row.toStatus as ChangeEventJson["toStatus"],
  createdAt: row.createdAt.toISOString(),
});

export type ChangesOutcome =
  | { kind: "changes"; body: ChangesResponse }
  /** Nothing since the cursor: the caller keeps it. */
  | { kind: "unchanged"; cursor: string };

/**
 * The caller's changes since the cursor: a seller's own products, every product for a reviewer. Rows are read in
 * id order, whoever's they are, and folded per product until the 101st product: the cursor then stops before it,
 * so the next call goes on from there with nothing skipped or repeated. Another seller's rows only move the cursor.
 */
export const followChanges = async (
  deps: ApiDeps,
  caller: Caller,
  query: z.output<typeof changesQuerySchema>,
): Promise<ChangesOutcome> => {
  const sellerId = isReviewer(caller) ? undefined : caller.id;
  const now = deps.clock().getTime();
  if (query.since === undefined) {
    const { newestIds } = await deps.repository.changesSince({
      productLimit: 0,
      newest: CHANGES.startWindow,
    });
    return {
      kind: "changes",
      body: { changes: [], cursor: encodeCursor(startCursor(newestIds, now)), more: false },
    };
  }
  const cursor = decodeCursor(query.since);
  const watched = cursor.gaps.filter((gap) => now - gap.seenAt <= CHANGES.gapWatchSeconds * 1000);
  const scan = await deps.repository.changesSince({
    after: { afterId: cursor.after, gaps: watched, limit: CHANGES.rows },
    sellerId,
    productLimit: CHANGES.products,
    newest: 1,
  });
  if (cursor.after > (scan.newestIds[0] ?? 0)) {
    // Following it would answer 304 until the history caught up: changes would be missed, silently.
    throw invalidSince(
      "is past the newest change: a cursor of another deployment, or of a database since reset; start again without it",
    );
  }
  if (scan.rows.length === 0) return { kind: "unchanged", cursor: query.since };

  const picked = new Map<string, ChangeRow[]>();
  const consumed: number[] = [];
  let cut = false;
  for (const row of scan.rows) {
    if (row.productId !== null) {
      let events = picked.get(row.productId);
      if (!events) {
        if (picked.size === CHANGES.products) {
          cut = true;
          break;
        }
        events = [];
        picked.set(row.productId, events);
      }
      events.push(row);
    }
    consumed.push(row.id);
  }
  const after = Math.max(cursor.after, ...consumed);
  const gaps = capGaps([
    ...watched.flatMap((gap) => without(gap, consumed).map((range) => ({ ...range, seenAt: gap.seenAt }))),
    ...without({ from: cursor.after + 1, to: after }, consumed).map((range) => ({ ...range, seenAt: now })),
  ]);

  const changed = [...picked].flatMap(([productId, events]) => {
    const product = scan.products.get(productId);
    return product ? [{ product, events }] : [];
  });
  changed.sort((a, b) => (a.events.at(-1)?.id ?? 0) - (b.events.at(-1)?.id ?? 0));
  const thumbnails = await deps.repository.thumbnails(changed.map(({ product }) => product.id));
  return {
    kind: "changes",
    body: {
      changes: changed.map(
        ({ product, events }): ProductChange => ({
          product: listItem(deps.settings.assetsBaseUrl, product, thumbnails),
          events: events.slice(-CHANGES.eventsPerProduct).map(eventJson),
        }),
      ),
      cursor: encodeCursor({ after, gaps }),
      more: cut || scan.rows.length >= CHANGES.rows,
    },
  };
};
