const MB = 1024 * 1024;

/** `32715571` → `"31.2 MB"`, `26214400` → `"25 MB"`: sizes as a seller reads them. */
export const formatMegabytes = (bytes: number): string => {
  const value = bytes / MB;
  const text = value >= 10 || Number.isInteger(value) ? value.toFixed(1) : value.toFixed(2);
  return `${text.replace(/\.0+$/, "")} MB`;
};
