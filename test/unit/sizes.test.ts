import { describe, expect, it } from "vitest";
import { describeOverLimit, formatMegabytes } from "../../lambdas/domain/sizes.ts";

const MB = 1024 * 1024;

describe("formatMegabytes", () => {
  it("writes whole megabytes without decimals", () => {
    expect(formatMegabytes(26214400)).toBe("25 MB");
    expect(formatMegabytes(MB)).toBe("1 MB");
  });

  it("gives three significant figures below 10 MB", () => {
    expect(formatMegabytes(8484634)).toBe("8.09 MB");
    expect(formatMegabytes(3.25 * MB)).toBe("3.25 MB");
  });

  it("gives one decimal from 10 MB up, dropping a trailing .0", () => {
    expect(formatMegabytes(32715571)).toBe("31.2 MB");
    expect(formatMegabytes(40 * MB + 1000)).toBe("40 MB");
  });

  it("does not pad a half megabyte with a trailing zero", () => {
    expect(formatMegabytes(1.5 * MB)).toBe("1.5 MB");
  });

  it("never shows a file over the limit as the same size as the limit", () => {
    expect(describeOverLimit(26214400 + 10_000, 26214400)).toEqual({ size: "25.01 MB", limit: "25 MB" });
    expect(describeOverLimit(26214400 + 1, 26214400)).toEqual({ size: "25.000001 MB", limit: "25 MB" });
    expect(describeOverLimit(32715571, 26214400)).toEqual({ size: "31.2 MB", limit: "25 MB" });
  });
});
