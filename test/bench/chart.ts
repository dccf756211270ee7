export interface Bar {
  label: string;
  value: number;
  /** Herald's own bars are drawn in another colour than the reference points. */
  herald: boolean;
}

const escapeXml = (text: string) => text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");

/** A horizontal bar chart as a self-contained SVG, so it needs no plotting library and renders on GitHub. */
export function barChart(title: string, unit: string, bars: Bar[]): string {
  const width = 760;
  const labelWidth = 250;
  const valueWidth = 90;
  const barHeight = 26;
  const gap = 10;
  const top = 48;
  const height = top + bars.length * (barHeight + gap) + 24;
  const max = Math.max(1, ...bars.map((bar) => bar.value));
  const scale = (width - labelWidth - valueWidth - 20) / max;
  const rows = bars.map((bar, i) => {
    const y = top + i * (barHeight + gap);
    const length = Math.max(1, bar.value * scale);
    const colour = bar.herald ? "#2f6fdf" : "#9aa5b1";
    return [
      `<text x="${labelWidth - 10}" y="${y + barHeight * 0.68}" text-anchor="end">${escapeXml(bar.label)}</text>`,
      `<rect x="${labelWidth}" y="${y}" width="${length.toFixed(1)}" height="${barHeight}" fill="${colour}" rx="3"/>`,
      `<text x="${(labelWidth + length + 8).toFixed(1)}" y="${y + barHeight * 0.68}">${Math.round(bar.value).toLocaleString("en-US")}</text>`,
    ].join("\n  ");
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif" font-size="14">
  <rect width="100%" height="100%" fill="#ffffff"/>
  <text x="16" y="28" font-size="17" font-weight="600">${escapeXml(title)}</text>
  <text x="${width - 16}" y="28" text-anchor="end" fill="#555">${escapeXml(unit)}</text>
  ${rows.join("\n  ")}
  <text x="16" y="${height - 8}" fill="#555" font-size="12">grey: reference points measured in the same run; blue: Herald</text>
</svg>
`;
}
