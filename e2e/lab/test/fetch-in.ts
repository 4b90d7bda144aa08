import { runChecked } from '@hybrid-proxy/exec';
import type { LabNode } from '@hybrid-proxy/lab';

/** Fetches a URL from inside one of the lab's namespaces (node's fetch, run there). */
export async function fetchIn(node: LabNode, where: 'node' | 'client', url: string): Promise<{ status: number; body: string }> {
  const host = where === 'node' ? node.topology.node : node.topology.client;
  const script = `fetch(${JSON.stringify(url)}).then(async (r) => console.log(JSON.stringify({ status: r.status, body: await r.text() })))`;
  return JSON.parse((await runChecked(host.run, process.execPath, ['-e', script])).stdout);
}

/** One sample's value from Prometheus text, by its full name and labels as printed. */
export function metricValue(text: string, sample: string): number {
  const line = text.split('\n').find((l) => l.startsWith(sample + ' '));
  return line === undefined ? Number.NaN : Number(line.slice(sample.length + 1));
}
