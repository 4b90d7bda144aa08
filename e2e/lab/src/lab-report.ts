import type { TargetResult, TrafficTarget } from './traffic-protocol.js';

export interface ServiceReport {
  readonly service: string;
  readonly vip: string;
  readonly port: number;
  readonly protocol: string;
  requests: number;
  failures: number;
  readonly backends: Record<string, number>;
  readonly errors: Record<string, number>;
}

export interface LabReport {
  readonly mode: string;
  durationSeconds: number;
  readonly services: ServiceReport[];
}

export function emptyReport(mode: string, targets: readonly TrafficTarget[]): LabReport {
  return {
    mode,
    durationSeconds: 0,
    services: targets.map((t) => ({ service: t.key, vip: t.ip, port: t.port, protocol: t.protocol, requests: 0, failures: 0, backends: {}, errors: {} })),
  };
}

export function addResults(report: LabReport, results: readonly TargetResult[]): void {
  results.forEach((result, i) => {
    const entry = report.services[i]!;
    entry.requests += result.ok + result.failed;
    entry.failures += result.failed;
    for (const [name, n] of Object.entries(result.backends)) entry.backends[name] = (entry.backends[name] ?? 0) + n;
    for (const [code, n] of Object.entries(result.errors)) entry.errors[code] = (entry.errors[code] ?? 0) + n;
  });
}

function pad(text: string, width: number): string {
  return text.length >= width ? text : text + ' '.repeat(width - text.length);
}

/** The live table: per Service, requests, failures, rate, and how answers spread over the backends. */
export function renderTable(report: LabReport): string {
  const rows = report.services.map((s) => {
    const answered = s.requests - s.failures;
    const spread = Object.entries(s.backends)
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([name, n]) => `${name} ${answered ? Math.round((100 * n) / answered) : 0}%`)
      .join('  ');
    const errors = Object.entries(s.errors).map(([code, n]) => `${code}×${n}`).join(' ');
    const rate = report.durationSeconds > 0 ? (s.requests / report.durationSeconds).toFixed(0) : '0';
    return [s.service, `${s.vip}:${s.port}/${s.protocol}`, String(s.requests), String(s.failures), rate, spread || (errors ? `(${errors})` : '-')];
  });
  const header = ['SERVICE', 'VIP', 'REQUESTS', 'FAILED', 'REQ/S', 'SPREAD OVER BACKENDS'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)) + 2);
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : pad(c, widths[i]!))).join('');
  return [`hybrid-proxy lab · mode ${report.mode} · ${report.durationSeconds.toFixed(0)} s`, line(header), ...rows.map(line)].join('\n') + '\n';
}
