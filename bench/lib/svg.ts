/**
 * A tiny dependency-free SVG chart writer: grouped bar charts and line charts with axes, ticks and a
 * legend, good enough to put a benchmark's result beside its numbers.
 */

export interface Series {
  name: string;
  values: readonly number[];
}

export interface BarChartSpec {
  title: string;
  /** One label per group of bars (x axis). */
  labels: readonly string[];
  /** One bar per series in each group; `values[i]` belongs to `labels[i]`. */
  series: readonly Series[];
  yLabel: string;
  /** Logarithmic y axis, for values spanning orders of magnitude. */
  log?: boolean;
  /** Dashed horizontal reference lines, e.g. a goal. */
  refs?: readonly { value: number; label: string }[];
}

export interface LineChartSpec {
  title: string;
  xLabel: string;
  yLabel: string;
  lines: readonly { name: string; points: readonly (readonly [number, number])[] }[];
  log?: boolean;
}

const WIDTH = 760;
const HEIGHT = 420;
const M = { left: 70, right: 20, top: 40, bottom: 90 };
const COLORS = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948', '#b07aa1', '#9c755f'];

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Compact number for labels: 3 significant digits, k/M/G suffixes. */
export function fmt(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e9) return `${+(v / 1e9).toPrecision(3)}G`;
  if (a >= 1e6) return `${+(v / 1e6).toPrecision(3)}M`;
  if (a >= 1e4) return `${+(v / 1e3).toPrecision(3)}k`;
  return `${+v.toPrecision(3)}`;
}

/** Maps values to plot y coordinates, with tick values, on a linear or log10 scale. */
function yScale(values: number[], log: boolean) {
  const plotH = HEIGHT - M.top - M.bottom;
  const finite = values.filter((v) => Number.isFinite(v) && (!log || v > 0));
  if (log) {
    const lo = Math.floor(Math.log10(Math.min(...finite, 1)));
    const hi = Math.ceil(Math.log10(Math.max(...finite, 10)));
    const span = Math.max(1, hi - lo);
    const ticks = Array.from({ length: span + 1 }, (_, i) => 10 ** (lo + i));
    const y = (v: number) => M.top + plotH - ((Math.log10(Math.max(v, 10 ** lo)) - lo) / span) * plotH;
    return { y, ticks, base: M.top + plotH };
  }
  const max = Math.max(...finite, 0) || 1;
  const step = 10 ** Math.floor(Math.log10(max / 5));
  const niceStep = [1, 2, 5, 10].map((k) => k * step).find((s) => max / s <= 6) ?? 10 * step;
  const top = Math.ceil(max / niceStep) * niceStep;
  const ticks = Array.from({ length: Math.round(top / niceStep) + 1 }, (_, i) => i * niceStep);
  const y = (v: number) => M.top + plotH - (v / top) * plotH;
  return { y, ticks, base: M.top + plotH };
}

function frame(title: string, yLabel: string, ticks: number[], y: (v: number) => number): string[] {
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" font-family="sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`,
    `<text x="${WIDTH / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${esc(title)}</text>`,
    `<text transform="translate(16 ${(M.top + HEIGHT - M.bottom) / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text>`,
  ];
  for (const t of ticks) {
    const ty = y(t).toFixed(1);
    out.push(`<line x1="${M.left}" x2="${WIDTH - M.right}" y1="${ty}" y2="${ty}" stroke="#ddd"/>`);
    out.push(
      `<text x="${M.left - 6}" y="${ty}" text-anchor="end" dominant-baseline="middle">${fmt(t)}</text>`,
    );
  }
  return out;
}

function legend(names: readonly string[]): string[] {
  return names.map((name, i) => {
    const x = M.left + 10 + i * 150;
    const y = HEIGHT - 14;
    return `<rect x="${x}" y="${y - 9}" width="10" height="10" fill="${COLORS[i % COLORS.length]}"/><text x="${x + 14}" y="${y}">${esc(name)}</text>`;
  });
}

/** An SVG grouped bar chart; each bar is labelled with its value. */
export function barChart(spec: BarChartSpec): string {
  const log = spec.log ?? false;
  const { y, ticks, base } = yScale(
    spec.series.flatMap((s) => [...s.values]),
    log,
  );
  const out = frame(spec.title, spec.yLabel, ticks, y);
  const groupW = (WIDTH - M.left - M.right) / Math.max(1, spec.labels.length);
  const barW = (groupW * 0.8) / Math.max(1, spec.series.length);
  spec.labels.forEach((label, g) => {
    const gx = M.left + g * groupW + groupW * 0.1;
    spec.series.forEach((s, k) => {
      const v = s.values[g];
      if (v === undefined || !Number.isFinite(v)) return;
      const top = y(v);
      const x = gx + k * barW;
      out.push(
        `<rect x="${x.toFixed(1)}" y="${top.toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${(base - top).toFixed(1)}" fill="${COLORS[k % COLORS.length]}"/>`,
      );
      out.push(
        `<text x="${(x + barW / 2).toFixed(1)}" y="${(top - 4).toFixed(1)}" text-anchor="middle" font-size="10">${fmt(v)}</text>`,
      );
    });
    const lx = M.left + g * groupW + groupW / 2;
    out.push(
      `<text transform="translate(${lx.toFixed(1)} ${base + 14}) rotate(20)" text-anchor="start" font-size="11">${esc(label)}</text>`,
    );
  });
  for (const ref of spec.refs ?? []) {
    const ry = y(ref.value).toFixed(1);
    out.push(
      `<line x1="${M.left}" x2="${WIDTH - M.right}" y1="${ry}" y2="${ry}" stroke="#c00" stroke-dasharray="5 4"/>`,
      `<text x="${WIDTH - M.right - 4}" y="${(+ry - 4).toFixed(1)}" text-anchor="end" fill="#c00">${esc(ref.label)}</text>`,
    );
  }
  if (spec.series.length > 1) out.push(...legend(spec.series.map((s) => s.name)));
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

/** An SVG line chart with one polyline (and point markers) per line. */
export function lineChart(spec: LineChartSpec): string {
  const log = spec.log ?? false;
  const all = spec.lines.flatMap((l) => l.points);
  const { y, ticks, base } = yScale(
    all.map((p) => p[1]),
    log,
  );
  const out = frame(spec.title, spec.yLabel, ticks, y);
  const xs = all.map((p) => p[0]);
  const x0 = Math.min(...xs, 0);
  const x1 = Math.max(...xs, x0 + 1);
  const plotW = WIDTH - M.left - M.right;
  const x = (v: number) => M.left + ((v - x0) / (x1 - x0)) * plotW;
  for (let i = 0; i <= 5; i++) {
    const v = x0 + ((x1 - x0) * i) / 5;
    out.push(`<text x="${x(v).toFixed(1)}" y="${base + 16}" text-anchor="middle">${fmt(v)}</text>`);
  }
  out.push(
    `<text x="${M.left + plotW / 2}" y="${base + 36}" text-anchor="middle">${esc(spec.xLabel)}</text>`,
  );
  spec.lines.forEach((line, k) => {
    const color = COLORS[k % COLORS.length];
    const pts = line.points.map(([px, py]) => `${x(px).toFixed(1)},${y(py).toFixed(1)}`);
    out.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${pts.join(' ')}"/>`);
    for (const p of pts) {
      const [cx, cy] = p.split(',');
      out.push(`<circle cx="${cx}" cy="${cy}" r="2.5" fill="${color}"/>`);
    }
  });
  out.push(...legend(spec.lines.map((l) => l.name)));
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
