/** A number for the report, with thousands separators; "—" when there is none. */
export const n = (value: number | null | undefined, digits = 0) =>
  value === null || value === undefined || Number.isNaN(value)
    ? "—"
    : value.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });

/** A ratio for the report: "0.59×". */
export const x = (value: number | null | undefined) => (value === null || value === undefined ? "—" : `${n(value, 2)}×`);
