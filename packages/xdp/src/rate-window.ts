/**
 * Rates over a sliding window from cumulative counters: the value per second between the oldest sample still
 * inside the window and the newest. Counters that go backwards (a map that was reset) restart the window.
 */
export class RateWindow {
  private readonly samples = new Map<string, { at: number; value: bigint }[]>();

  constructor(private readonly windowMs: number) {}

  add(key: string, at: number, value: bigint): void {
    let list = this.samples.get(key);
    if (!list || (list.length > 0 && value < list.at(-1)!.value)) {
      list = [];
      this.samples.set(key, list);
    }
    list.push({ at, value });
    while (list.length > 2 && list[1]!.at <= at - this.windowMs) list.shift();
  }

  rate(key: string): number {
    const list = this.samples.get(key);
    if (!list || list.length < 2) return 0;
    const first = list[0]!;
    const last = list.at(-1)!;
    return last.at > first.at ? Number(last.value - first.value) / ((last.at - first.at) / 1000) : 0;
  }

  /** Forgets keys not seen in the last call's set (flows that went away). */
  retain(keys: ReadonlySet<string>): void {
    for (const key of this.samples.keys()) if (!keys.has(key)) this.samples.delete(key);
  }
}
