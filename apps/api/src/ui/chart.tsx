/** @jsxRuntime automatic @jsxImportSource hono/jsx */
import type { MinuteBucket } from "../services/console-dashboard.ts";

const WIDTH = 720;
const HEIGHT = 180;
const LEFT = 36;
const BOTTOM = 22;

/** Attempts per minute as stacked bars (succeeded below, failed on top), drawn on the server as SVG. */
export function MinuteChart({ minutes }: { minutes: MinuteBucket[] }) {
  const max = Math.max(1, ...minutes.map((m) => m.succeeded + m.failed));
  const plotHeight = HEIGHT - BOTTOM - 8;
  const slot = (WIDTH - LEFT) / Math.max(1, minutes.length);
  const bar = Math.max(1, slot - 2);
  const y = (value: number) => (value / max) * plotHeight;
  const total = minutes.reduce((sum, m) => sum + m.succeeded + m.failed, 0);
  const failed = minutes.reduce((sum, m) => sum + m.failed, 0);
  return (
    <svg
      class="chart"
      viewBox={`0 0 ${WIDTH} ${HEIGHT}`}
      role="img"
      aria-label={`Attempts per minute over the last hour: ${total} in all, ${failed} failed, at most ${max} in one minute.`}
    >
      <line class="axis" x1={LEFT} y1={HEIGHT - BOTTOM} x2={WIDTH} y2={HEIGHT - BOTTOM} />
      <line class="axis" x1={LEFT} y1={8} x2={WIDTH} y2={8} stroke-dasharray="3 4" />
      <text x={LEFT - 6} y={12} text-anchor="end">
        {max}
      </text>
      <text x={LEFT - 6} y={HEIGHT - BOTTOM} text-anchor="end">
        0
      </text>
      <text x={LEFT} y={HEIGHT - 6}>
        60 min ago
      </text>
      <text x={WIDTH} y={HEIGHT - 6} text-anchor="end">
        now
      </text>
      {minutes.map((m, index) => {
        const x = LEFT + index * slot + 1;
        const okHeight = y(m.succeeded);
        const badHeight = y(m.failed);
        const base = HEIGHT - BOTTOM;
        const label = `${new Date(m.at).toISOString().slice(11, 16)} UTC: ${m.succeeded} succeeded, ${m.failed} failed`;
        return (
          <g>
            <title>{label}</title>
            {m.succeeded > 0 && <rect class="ok" x={x} y={base - okHeight} width={bar} height={okHeight} />}
            {m.failed > 0 && <rect class="bad" x={x} y={base - okHeight - badHeight} width={bar} height={badHeight} />}
          </g>
        );
      })}
    </svg>
  );
}
