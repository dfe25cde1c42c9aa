import { existsSync } from "node:fs";
import type AxeBuilder from "@axe-core/playwright";
import { type Browser, chromium, type Page } from "playwright-core";

/** Debian's Chromium, which `.ci/run` installs when it is missing; `CHROMIUM_PATH` names another. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

/**
 * Why the browser tests cannot run, or undefined. Each test throws it (a failure in `beforeAll` alone would
 * leave the tests reported as skipped): CI installs Chromium, and a machine without it must not look green.
 */
export const chromiumMissing = existsSync(CHROMIUM)
  ? undefined
  : `Chromium is not installed at ${CHROMIUM}, and the browser tests need it: install Debian's package ` +
    "(`apt-get install -y chromium`; .ci/run does this) or set CHROMIUM_PATH to a Chromium binary";

export const requireChromium = (): void => {
  if (chromiumMissing) throw new Error(chromiumMissing);
};

export const launchChromium = (): Promise<Browser> =>
  chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });

/** The rules every view is held to: WCAG 2.2 AA and axe's best practices. */
export const AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"];

/** axe's serious and critical violations, each with where it was found: what a view may not have. */
export const seriousViolations = (results: Awaited<ReturnType<AxeBuilder["analyze"]>>) =>
  results.violations
    .filter((violation) => violation.impact === "serious" || violation.impact === "critical")
    .map((violation) => ({
      rule: violation.id,
      impact: violation.impact,
      help: violation.help,
      where: violation.nodes.map((node) => node.target.join(" ")),
    }));

/**
 * Resolves once a gallery card for `sku` shows "In review", polling in the page every 50 ms (not through
 * Playwright round trips), so the moment it resolves is when the screen changed.
 */
export const cardInReview = (page: Page, sku: string): Promise<unknown> =>
  page.waitForFunction(
    (wanted) => {
      // The predicate runs in the page; this project's TypeScript has no DOM types, so it names what it reads.
      type Node = { querySelector(selector: string): { textContent: string | null } | null };
      const { document } = globalThis as unknown as {
        document: { querySelectorAll(selector: string): Iterable<Node> };
      };
      return [...document.querySelectorAll("main .card")].some(
        (card) =>
          card.querySelector(".sku")?.textContent === wanted &&
          card.querySelector(".status")?.textContent === "In review",
      );
    },
    sku,
    { polling: 50, timeout: 60_000 },
  );
