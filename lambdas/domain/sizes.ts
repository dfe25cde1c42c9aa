const MB = 1024 * 1024;

const trimZeros = (text: string): string => (text.includes(".") ? text.replace(/\.?0+$/, "") : text);

/** `32715571` → `"31.2 MB"`, `26214400` → `"25 MB"`, `1572864` → `"1.5 MB"`: sizes as a seller reads them. */
export const formatMegabytes = (bytes: number, decimals?: number): string => {
  const value = bytes / MB;
  const places = decimals ?? (value >= 10 ? 1 : 2);
  return `${trimZeros(value.toFixed(places))} MB`;
};

/**
 * Both sizes for an "over the limit" message, with enough decimals that they differ: a photo 10 KB
 * over a 25 MB limit reads "25.01 MB", never "25 MB; the limit is 25 MB".
 */
export const describeOverLimit = (bytes: number, limit: number): { size: string; limit: string } => {
  for (let places = bytes / MB >= 10 ? 1 : 2; places <= 6; places += 1) {
    const size = formatMegabytes(bytes, places);
    if (size !== formatMegabytes(limit, places)) return { size, limit: formatMegabytes(limit) };
  }
  return { size: `${bytes} bytes`, limit: `${limit} bytes` };
};
