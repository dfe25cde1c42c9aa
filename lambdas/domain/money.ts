import { z } from "zod";

/**
 * Money and percentages stay decimal strings from the request to the DECIMAL column: they are
 * compared as integer hundredths (BigInt), never as floats. A JSON number is read back through its
 * shortest round-trip text (`String(19.99) === "19.99"`), which is exact for two decimal places.
 */
const DECIMAL_TEXT = /^\d{1,10}(\.\d{1,2})?$/;

export const toHundredths = (decimal: string): bigint => {
  const [whole = "0", fraction = ""] = decimal.split(".");
  return BigInt(whole) * 100n + BigInt(fraction.padEnd(2, "0"));
};

const normalise = (decimal: string): string => {
  const hundredths = toHundredths(decimal);
  const whole = hundredths / 100n;
  const fraction = (hundredths % 100n).toString().padStart(2, "0");
  return `${whole}.${fraction}`;
};

interface DecimalRule {
  max: string;
  /** Whether zero is allowed (a discount may be 0, a price may not). */
  allowZero: boolean;
}

export const decimalField = ({ max, allowZero }: DecimalRule) =>
  z
    .union([z.string(), z.number()], { error: "must be a decimal number, e.g. 199.99" })
    .transform((value, ctx) => {
      const text = typeof value === "number" ? String(value) : value.trim();
      if (!DECIMAL_TEXT.test(text)) {
        ctx.addIssue({
          code: "custom",
          message: "must be a non-negative decimal with at most 2 decimal places",
        });
        return z.NEVER;
      }
      const hundredths = toHundredths(text);
      if (!allowZero && hundredths === 0n) {
        ctx.addIssue({ code: "custom", message: "must be greater than 0" });
        return z.NEVER;
      }
      if (hundredths > toHundredths(max)) {
        ctx.addIssue({ code: "custom", message: `must be at most ${max}` });
        return z.NEVER;
      }
      return normalise(text);
    })
    // What the transform checks, said to the API's description (zod-openapi renders only the input's type).
    .meta({
      description: `a decimal from ${allowZero ? "0" : "0.01"} to ${max} with at most two decimal places, as a JSON string or number (answers carry it as a string with two places)`,
      override: ({ jsonSchema }) => {
        jsonSchema.pattern = DECIMAL_TEXT.source;
        jsonSchema.minimum = allowZero ? 0 : 0.01;
        jsonSchema.maximum = Number(max);
      },
    });
