/**
 * Traffic charts (uPlot, drawn on canvas; it builds its legend with textContent only, so it runs
 * under the page's Trusted Types CSP). Each chart also has a data table under a disclosure, for
 * keyboard and screen-reader users.
 */
import uPlot from 'uplot';
import type { Traffic } from './api.js';
import { h, replace, table } from './dom.js';
import { bytes } from './format.js';

const PALETTE = ['#2563eb', '#d97706', '#059669', '#db2777', '#7c3aed', '#0891b2', '#65a30d', '#dc2626'];

/**
 * Hours are instants, shown in the browser's time zone. Days are UTC days (the usage rows' unit), so
 * they are named in UTC: in the browser's zone a UTC midnight may fall on the day before.
 */
const bucketFormat = {
  '24h': new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' }),
  '7d': new Intl.DateTimeFormat(undefined, {
    weekday: 'short',
    day: 'numeric',
    month: 'short',
    timeZone: 'UTC',
  }),
};
/** Axis ticks: short enough that the last one fits at phone width. */
const tickFormat = {
  '24h': bucketFormat['24h'],
  '7d': new Intl.DateTimeFormat(undefined, { weekday: 'short', day: 'numeric', timeZone: 'UTC' }),
};
/** uPlot places time ticks at midnights of this zone: UTC days for the daily chart. */
const tzDate = {
  '24h': (ts: number) => new Date(ts * 1000),
  '7d': (ts: number) => uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC'),
};

export class TrafficChart {
  readonly el: HTMLElement;
  private readonly plotHost: HTMLElement;
  private readonly tableHost: HTMLElement;
  private readonly note: HTMLElement;
  private readonly caption: HTMLElement;
  private readonly title: string;
  private plot: uPlot | undefined;
  private seriesKey = '';
  private readonly resize: ResizeObserver;

  constructor(title: string) {
    this.plotHost = h('div', { class: 'chart-plot' });
    this.tableHost = h('div');
    this.note = h('p', { class: 'hint' });
    this.title = title;
    this.caption = h('figcaption', { 'data-testid': 'chart-caption' }, title);
    this.el = h(
      'figure',
      { class: 'chart' },
      this.caption,
      this.plotHost,
      this.note,
      h('details', null, h('summary', null, 'Data table'), this.tableHost),
    );
    this.resize = new ResizeObserver(() => {
      if (this.plot) this.plot.setSize({ width: this.width(), height: this.plot.height });
    });
    this.resize.observe(this.plotHost);
  }

  private width(): number {
    return Math.max(240, this.plotHost.clientWidth);
  }

  update(t: Traffic): void {
    const xs = t.buckets.map((b) => new Date(b).getTime() / 1000);
    const sum = (rx: number[], tx: number[]) => rx.map((v, i) => v + (tx[i] ?? 0));
    const lines: { label: string; values: number[] }[] = [
      { label: 'All nodes', values: sum(t.total.rxBytes, t.total.txBytes) },
      ...t.nodes.map((n) => ({ label: n.nodeId, values: sum(n.rxBytes, n.txBytes) })),
    ];
    const key = `${t.range}|${lines.map((l) => l.label).join(',')}`;
    const data: uPlot.AlignedData = [xs, ...lines.map((l) => l.values)];
    if (this.plot && key === this.seriesKey) {
      this.plot.setData(data);
    } else {
      this.plot?.destroy();
      this.seriesKey = key;
      const fmt = bucketFormat[t.range];
      this.plot = new uPlot(
        {
          width: this.width(),
          height: 220,
          padding: [12, 28, 0, 0],
          cursor: { drag: { x: false, y: false } },
          scales: { x: { time: true } },
          tzDate: tzDate[t.range],
          axes: [
            {
              values: (_u, ticks) => ticks.map((s) => tickFormat[t.range].format(new Date(s * 1000))),
              stroke: '#6b7280',
            },
            { values: (_u, ticks) => ticks.map((v) => bytes(v)), size: 70, stroke: '#6b7280' },
          ],
          series: [
            { value: (_u, v) => (v === null ? '—' : fmt.format(new Date(v * 1000))) },
            ...lines.map((l, i) => ({
              label: l.label,
              stroke: PALETTE[i % PALETTE.length],
              width: i === 0 ? 2.5 : 1.5,
              points: { show: true, size: 4 },
              value: (_u: uPlot, v: number | null) => (v === null ? '—' : bytes(v)),
            })),
          ],
        },
        data,
        this.plotHost,
      );
    }
    // An estimate says so where its numbers are read: caption (also the data table's), not only
    // in the note under the chart.
    const estimated = t.method === 'sessions-estimate';
    this.caption.textContent = estimated ? `${this.title} (estimate)` : this.title;
    this.note.textContent =
      t.method === 'sessions-estimate'
        ? 'Bytes up + down per hour (UTC hours), estimated: each session’s bytes spread evenly over its lifetime.'
        : 'Bytes up + down per UTC day, from the usage records; today so far.';
    const fmt = bucketFormat[t.range];
    replace(
      this.tableHost,
      table(
        estimated ? 'Estimated traffic per hour' : 'Traffic per day',
        [
          {
            label: t.range === '24h' ? 'Hour' : 'Day',
            cell: (i: number) => fmt.format(new Date(t.buckets[i]!)),
          },
          ...lines.map((l) => ({
            label: l.label,
            cell: (i: number) => bytes(l.values[i] ?? 0),
            numeric: true,
          })),
        ],
        t.buckets.map((_b, i) => i),
        'No data.',
      ),
    );
  }

  destroy(): void {
    this.resize.disconnect();
    this.plot?.destroy();
  }
}
