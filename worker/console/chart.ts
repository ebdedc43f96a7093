// The overview's per-provider chart: 24 hourly columns of refreshes, failures and needs_reauth,
// with the hours that held dead-grant answers marked when `ops report` flags a spike. Inline SVG
// drawn on the server: presentation attributes only (the CSP allows no inline style).
import { html, type Html } from './html.ts';

export interface HourBucket {
  refreshes: number;
  failures: number;
  needsReauth: number;
  deadGrants: number;
}

export interface ChartGeometry {
  width: number;
  height: number;
  barWidth: number;
  gap: number;
}

export const GEOMETRY: ChartGeometry = { width: 288, height: 64, barWidth: 10, gap: 2 };

export interface Bar {
  x: number;
  /** The stacked segments, bottom up: refreshes, failures, needs_reauth (y from the top). */
  segments: { kind: 'refreshes' | 'failures' | 'needsReauth'; y: number; height: number }[];
  marked: boolean;
}

const total = (b: HourBucket) => b.refreshes + b.failures + b.needsReauth;

/** The bars' numbers (pure): each column's stack scaled to the busiest hour. */
export function chartBars(buckets: HourBucket[], spiked: boolean, g: ChartGeometry = GEOMETRY): Bar[] {
  const max = Math.max(1, ...buckets.map(total));
  const scale = (n: number) => Math.round((n / max) * (g.height - 8) * 100) / 100;
  return buckets.map((b, i) => {
    let y = g.height;
    const segments = (['refreshes', 'failures', 'needsReauth'] as const)
      .filter((k) => b[k] > 0)
      .map((kind) => {
        const height = scale(b[kind]);
        y = Math.round((y - height) * 100) / 100;
        return { kind, y, height };
      });
    return { x: i * (g.barWidth + g.gap), segments, marked: spiked && b.deadGrants > 0 };
  });
}

const FILL = { refreshes: '#4a7bb7', failures: '#d98b1e', needsReauth: '#c0392b' } as const;

export function chartSvg(label: string, buckets: HourBucket[], spiked: boolean, g: ChartGeometry = GEOMETRY): Html {
  const sum = (k: keyof HourBucket) => buckets.reduce((s, b) => s + b[k], 0);
  const summary = `${label}: ${sum('refreshes')} refreshes, ${sum('failures')} failures, ${sum('needsReauth')} needs_reauth in the last ${buckets.length} hours${spiked ? `; invalid_grant spike (${sum('deadGrants')} dead-grant answers)` : ''}`;
  const bars = chartBars(buckets, spiked, g).map(
    (b) =>
      html`<g
        >${b.segments.map((s) => html`<rect x="${b.x}" y="${s.y}" width="${g.barWidth}" height="${s.height}" fill="${FILL[s.kind]}"></rect>`)}${b.marked ? html`<path class="spike" d="M${b.x} 0h${g.barWidth}l-${g.barWidth / 2} 6z" fill="#c0392b"></path>` : ''}</g
      >`,
  );
  return html`<svg
    class="chart"
    role="img"
    aria-label="${summary}"
    viewBox="0 0 ${g.width} ${g.height}"
    width="${g.width}"
    height="${g.height}"
    xmlns="http://www.w3.org/2000/svg"
  >
    <title>${summary}</title>
    <line x1="0" y1="${g.height - 0.5}" x2="${g.width}" y2="${g.height - 0.5}" stroke="#999"></line>
    ${bars}
  </svg>`;
}
