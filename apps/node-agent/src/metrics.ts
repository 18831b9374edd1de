/**
 * Prometheus metrics in the text exposition format, served on a local address (`metricsListen`,
 * default 127.0.0.1:9817, path /metrics). Counters live in plain objects the packet path increments;
 * collection reads them when scraped, so the data path pays nothing per packet beyond an addition.
 */
import http from 'node:http';
import type { ListenAddress } from './config.js';

export type MetricType = 'counter' | 'gauge';

export interface MetricSample {
  readonly name: string;
  readonly help: string;
  readonly type: MetricType;
  readonly values: readonly { labels?: Record<string, string>; value: number }[];
}

export type Collector = () => MetricSample[];

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

export function renderMetrics(samples: readonly MetricSample[]): string {
  const lines: string[] = [];
  for (const s of samples) {
    lines.push(`# HELP ${s.name} ${s.help}`, `# TYPE ${s.name} ${s.type}`);
    for (const v of s.values) {
      const labels = v.labels
        ? `{${Object.entries(v.labels)
            .map(([k, x]) => `${k}="${escapeLabel(x)}"`)
            .join(',')}}`
        : '';
      lines.push(`${s.name}${labels} ${Number.isFinite(v.value) ? v.value : 0}`);
    }
  }
  return lines.join('\n') + '\n';
}

/** Serves `collect()` on GET /metrics. Resolves once listening; `close()` stops it. */
export async function serveMetrics(at: ListenAddress, collect: Collector): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    let body: string;
    try {
      body = renderMetrics(collect());
    } catch {
      res.writeHead(500, { 'content-type': 'text/plain' }).end('collect failed\n');
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(body);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(at.port, at.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}
