import type { BackgroundReport } from "./quality.ts";
import type { OutputFormat, ProfileName } from "./vocabulary.ts";

/**
 * A marketplace's image rules, as the STANDARDIZE mode targets them and the compliance report checks
 * them. Sources: Amazon's product image requirements (pure white background, the product filling
 * about 85% of the frame, 1000 px at least on the longest side for zoom, 10 MB at most), Shopify's
 * recommended 2048×2048 square, Google Merchant Center's image guidance (1500 px and up for apparel and
 * zoom, 16 MB at most).
 */
export interface Profile {
  name: ProfileName;
  /** The square's preferred side: STANDARDIZE produces it when the product has the pixels (see standardCanvas). */
  side: number;
  /** The smallest longest side the marketplace accepts. */
  minSide: number;
  square: boolean;
  /** Share of the frame the product's longest side should span. */
  fill: number;
  /** Accepted band around `fill`: below it the product looks lost, above it it touches the frame. */
  fillTolerance: number;
  /** Background whiteness (0–100) at and above which the background counts as pure white. */
  minWhiteness: number;
  format: OutputFormat;
  maxBytes: number;
}

const MB = 1024 * 1024;

export const PROFILES: Record<ProfileName, Profile> = {
  amazon: {
    name: "amazon",
    side: 2000,
    minSide: 1000,
    square: true,
    fill: 0.85,
    fillTolerance: 0.05,
    minWhiteness: 99,
    format: "jpeg",
    maxBytes: 10 * MB,
  },
  shopify: {
    name: "shopify",
    side: 2048,
    minSide: 800,
    square: true,
    fill: 0.85,
    fillTolerance: 0.08,
    minWhiteness: 95,
    format: "jpeg",
    maxBytes: 20 * MB,
  },
  google: {
    name: "google",
    side: 2000,
    minSide: 1500,
    square: true,
    fill: 0.85,
    fillTolerance: 0.1,
    minWhiteness: 95,
    format: "jpeg",
    maxBytes: 16 * MB,
  },
};

export interface ComplianceRule {
  rule: string;
  pass: boolean;
  /** What was measured, in a sentence a seller can act on when it fails. */
  detail: string;
}

export interface ComplianceReport {
  profile: ProfileName;
  pass: boolean;
  rules: ComplianceRule[];
}

export interface ComplianceInput {
  width: number;
  height: number;
  format: string;
  bytes: number;
  colourSpace: "srgb" | string;
  background: BackgroundReport;
}

/** The product's longest side as a share of the frame side along the same axis. */
export const productFill = (background: BackgroundReport, width: number, height: number): number =>
  Math.max(background.productBox.width / width, background.productBox.height / height);

const percent = (share: number) => `${Math.round(share * 100)}%`;

/** Checks one image against a marketplace's rules, naming each failing rule with what was measured. */
export const checkCompliance = (profileName: ProfileName, image: ComplianceInput): ComplianceReport => {
  const profile = PROFILES[profileName];
  const longest = Math.max(image.width, image.height);
  const fill = productFill(image.background, image.width, image.height);
  const rules: ComplianceRule[] = [
    {
      rule: "white background",
      pass: image.background.whiteness >= profile.minWhiteness,
      detail:
        image.background.whiteness >= profile.minWhiteness
          ? "background is pure white"
          : `background is not white (whiteness ${Math.round(image.background.whiteness)} < ${profile.minWhiteness})`,
    },
    {
      rule: "square",
      pass: !profile.square || image.width === image.height,
      detail: `${image.width}×${image.height} px${profile.square && image.width !== image.height ? " is not square" : ""}`,
    },
    {
      rule: "size",
      pass: longest >= profile.minSide,
      detail:
        longest >= profile.minSide
          ? `longest side ${longest} px ≥ ${profile.minSide}`
          : `longest side ${longest} px < ${profile.minSide}`,
    },
    {
      rule: "product fill",
      pass: Math.abs(fill - profile.fill) <= profile.fillTolerance,
      detail: `product spans ${percent(fill)} of the frame (target ${percent(profile.fill)} ± ${percent(profile.fillTolerance)})`,
    },
    {
      rule: "format",
      pass: image.format === profile.format && image.colourSpace === "srgb",
      detail: `${image.format.toUpperCase()}, ${image.colourSpace}${image.format === profile.format ? "" : `; ${profile.format.toUpperCase()} required`}`,
    },
    {
      rule: "file size",
      pass: image.bytes <= profile.maxBytes,
      detail: `${(image.bytes / MB).toFixed(2)} MB${image.bytes > profile.maxBytes ? ` > ${profile.maxBytes / MB} MB` : ""}`,
    },
  ];
  return { profile: profileName, pass: rules.every((rule) => rule.pass), rules };
};
