import { performance } from 'node:perf_hooks';

export const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

export async function time(fn) {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

export const ms = (value) => (value >= 1000 ? `${(value / 1000).toFixed(2)} s` : `${value.toFixed(1)} ms`);
export const mib = (bytes) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
export const count = (n) => n.toLocaleString('en');

/** Repeated runs of one measure: the median with the range, for figures a single run cannot settle. */
export const spread = (values) => ({ median: median(values), min: Math.min(...values), max: Math.max(...values) });
export const msSpread = ({ median: m, min, max }) => `${ms(m)} (${ms(min)}–${ms(max)})`;
