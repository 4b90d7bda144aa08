import type { TargetResult, TrafficPath, TrafficTarget } from './traffic-protocol.js';

export interface ServiceReport {
  readonly service: string;
  readonly vip: string;
  readonly port: number;
  readonly protocol: string;
  /** How the client reached it: the ClusterIP, a node port, an external IP or a load-balancer IP. */
  readonly via: TrafficPath;
  requests: number;
  failures: number;
  readonly backends: Record<string, number>;
  readonly errors: Record<string, number>;
  /** From the eBPF counters: packets and bytes to the VIP:port, its packets per second, reply packets per backend. */
  countedPackets?: number;
  countedBytes?: number;
  pps?: number;
  countedBackends?: Record<string, number>;
}

export interface LabReport {
  readonly mode: string;
  durationSeconds: number;
  readonly services: ServiceReport[];
}

export interface CounterView {
  /** By service port key (`ns/name:port`): VIP packets, bytes and pps. */
  readonly vips: ReadonlyMap<string, { packets: number; bytes: number; pps: number }>;
  /** By service port key, then backend (Pod) name: reply packets counted in the datapath. */
  readonly backends: ReadonlyMap<string, Record<string, number>>;
}

export function addCounters(report: LabReport, view: CounterView): void {
  // The counters are keyed by ClusterIP:port: traffic through a node port or an external address is not theirs.
  for (const entry of report.services.filter((s) => s.via === 'ClusterIP')) {
    const vip = view.vips.get(entry.service);
    if (vip) {
      entry.countedPackets = vip.packets;
      entry.countedBytes = vip.bytes;
      entry.pps = vip.pps;
    }
    const backends = view.backends.get(entry.service);
    if (backends) entry.countedBackends = backends;
  }
}

export function emptyReport(mode: string, targets: readonly TrafficTarget[]): LabReport {
  return {
    mode,
    durationSeconds: 0,
    services: targets.map((t) => ({ service: t.key, vip: t.ip, port: t.port, protocol: t.protocol, via: t.via ?? 'ClusterIP', requests: 0, failures: 0, backends: {}, errors: {} })),
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

const VIA_LABEL: Record<TrafficPath, string> = { ClusterIP: 'cluster-ip', NodePort: 'node-port', ExternalIP: 'external-ip', LoadBalancer: 'lb-ip' };

function pad(text: string, width: number): string {
  return text.length >= width ? text : text + ' '.repeat(width - text.length);
}

/** The live table: per Service, requests, failures, rate, and how answers spread over the backends. */
export function renderTable(report: LabReport): string {
  // The datapath counts a backend's replies whatever door the request came in by: for a Service with several
  // doors, its counted shares are compared with the answers the client saw through all of them.
  const doors = new Map<string, ServiceReport[]>();
  for (const s of report.services) doors.set(s.service, [...(doors.get(s.service) ?? []), s]);
  const rows = report.services.map((s) => {
    const group = s.countedBackends && (doors.get(s.service)?.length ?? 0) > 1 ? doors.get(s.service)! : [s];
    const seen: Record<string, number> = {};
    for (const row of group) for (const [name, n] of Object.entries(row.backends)) seen[name] = (seen[name] ?? 0) + n;
    const answered = group.reduce((sum, row) => sum + row.requests - row.failures, 0);
    const counted = Object.values(s.countedBackends ?? {}).reduce((a, b) => a + b, 0);
    const percent = (n: number, of: number) => `${of ? Math.round((100 * n) / of) : 0}%`;
    // Observed by the client / counted in the datapath, per backend.
    const spread = Object.entries(seen)
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([name, n]) => `${name} ${percent(n, answered)}${s.countedBackends ? `/${percent(s.countedBackends[name] ?? 0, counted)}` : ''}`)
      .join('  ');
    const errors = Object.entries(s.errors).map(([code, n]) => `${code}×${n}`).join(' ');
    const rate = report.durationSeconds > 0 ? (s.requests / report.durationSeconds).toFixed(0) : '0';
    const pps = s.pps === undefined ? '-' : s.pps.toFixed(0);
    return [s.service, VIA_LABEL[s.via], `${s.vip}:${s.port}/${s.protocol}`, String(s.requests), String(s.failures), rate, pps, (spread || (errors ? `(${errors})` : '-')) + (group.length > 1 ? '  (all doors)' : '')];
  });
  const header = ['SERVICE', 'VIA', 'ADDRESS', 'REQUESTS', 'FAILED', 'REQ/S', 'PPS', 'SPREAD: CLIENT-SEEN/COUNTED'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)) + 2);
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : pad(c, widths[i]!))).join('');
  const legend = 'VIA: how the client reached the Service (its ClusterIP, or from outside the node a node port, an external IP, a load-balancer IP). PPS: packets/s to the ClusterIP, counted in the datapath (eBPF). SPREAD: share of answers the client saw / share of reply packets counted per backend (on a ClusterIP row, through every door of its Service when it has several).';
  return [`hybrid-proxy lab · mode ${report.mode} · ${report.durationSeconds.toFixed(0)} s`, line(header), ...rows.map(line), legend].join('\n') + '\n';
}
