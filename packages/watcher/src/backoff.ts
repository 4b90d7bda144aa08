/** Exponential backoff with ±20% jitter, so that many proxies restarting together do not retry in lockstep. */
export function jitteredBackoff(attempt: number, firstMs: number, maxMs: number, random = Math.random): number {
  const base = Math.min(maxMs, firstMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(base * (0.8 + random() * 0.4));
}
