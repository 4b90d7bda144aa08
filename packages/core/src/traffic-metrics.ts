import { Counter, Gauge, type Registry } from 'prom-client';
import { RateWindow, type CountedFlow, type CounterReading, type XdpCounters } from '@hybrid-proxy/xdp';
import type { Logger } from './logger.js';

const VIP_LABELS = ['namespace', 'service', 'port', 'protocol'] as const;
const BACKEND_LABELS = [...VIP_LABELS, 'endpoint'] as const;

const flowId = (flow: CountedFlow) => JSON.stringify(flow.labels);
const serviceId = (flow: CountedFlow) => `${flow.labels.namespace}/${flow.labels.service}:${flow.labels.port}/${flow.labels.protocol}`;

/**
 * The eBPF counters as Prometheus metrics. A sampler reads the kernel every second (one bpftool batch), feeding
 * the rate windows; scrapes publish the latest reading. Counter values mirror the kernel's, which keep counting
 * across proxy restarts because the maps stay pinned.
 */
export class TrafficMetrics {
  private latest: CounterReading | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly vipRates: RateWindow;
  private readonly backendRates: RateWindow;

  constructor(
    private readonly counters: XdpCounters,
    registry: Registry,
    private readonly logger: Logger,
    windowMs = 10_000,
  ) {
    this.vipRates = new RateWindow(windowMs);
    this.backendRates = new RateWindow(windowMs);
    const registers = [registry];
    const reading = () => this.latest;
    const mirror = (flows: (r: CounterReading) => readonly CountedFlow[], field: 'packets' | 'bytes') =>
      function (this: Counter<string>) {
        const r = reading();
        this.reset();
        for (const flow of r ? flows(r) : []) this.inc({ ...flow.labels }, Number(flow[field]));
      };
    new Counter({ name: 'hybrid_proxy_vip_packets_total', help: 'Packets to each Service VIP:port, counted in the datapath before DNAT', labelNames: VIP_LABELS, registers, collect: mirror((r) => r.vips, 'packets') });
    new Counter({ name: 'hybrid_proxy_vip_bytes_total', help: 'Bytes (L2 frames) to each Service VIP:port, counted in the datapath', labelNames: VIP_LABELS, registers, collect: mirror((r) => r.vips, 'bytes') });
    new Counter({ name: 'hybrid_proxy_backend_packets_total', help: 'Reply packets from each backend of a Service port, counted in the datapath', labelNames: BACKEND_LABELS, registers, collect: mirror((r) => r.backends, 'packets') });
    new Counter({ name: 'hybrid_proxy_backend_bytes_total', help: 'Reply bytes (L2 frames) from each backend of a Service port', labelNames: BACKEND_LABELS, registers, collect: mirror((r) => r.backends, 'bytes') });
    const self = this;
    new Gauge({
      name: 'hybrid_proxy_vip_packets_per_second',
      help: 'Packets per second to each Service VIP:port over the rate window',
      labelNames: VIP_LABELS,
      registers,
      collect() {
        this.reset();
        for (const flow of reading()?.vips ?? []) this.set({ ...flow.labels }, self.vipRates.rate(flowId(flow)));
      },
    });
    new Gauge({
      name: 'hybrid_proxy_backend_packets_per_second',
      help: 'Reply packets per second from each backend over the rate window',
      labelNames: BACKEND_LABELS,
      registers,
      collect() {
        this.reset();
        for (const flow of reading()?.backends ?? []) this.set({ ...flow.labels }, self.backendRates.rate(flowId(flow)));
      },
    });
    new Gauge({
      name: 'hybrid_proxy_backend_share',
      help: "Each backend's share of its Service port's reply packets over the rate window (0-1)",
      labelNames: BACKEND_LABELS,
      registers,
      collect() {
        this.reset();
        for (const [flow, share] of self.shares()) this.set({ ...flow.labels }, share);
      },
    });
    new Counter({
      name: 'hybrid_proxy_counter_misses_total',
      help: 'Packets whose destination (map=vip) or source (map=backend) is in no counter index',
      labelNames: ['map'],
      registers,
      collect() {
        const r = reading();
        this.reset();
        if (r) {
          this.inc({ map: 'vip' }, Number(r.misses.vip.packets));
          this.inc({ map: 'backend' }, Number(r.misses.backend.packets));
        }
      },
    });
    new Gauge({
      name: 'hybrid_proxy_counter_index_overflow',
      help: 'Flows that found no free slot in a counter index (their traffic counts as misses)',
      labelNames: ['map'],
      registers,
      collect() {
        const r = reading();
        this.set({ map: 'vip' }, r?.overflow.vips ?? 0);
        this.set({ map: 'backend' }, r?.overflow.backends ?? 0);
      },
    });
  }

  /** Each backend's share of its Service port's packets over the window; falls back to totals before rates exist. */
  shares(): [CountedFlow, number][] {
    const backends = this.latest?.backends ?? [];
    const byService = new Map<string, CountedFlow[]>();
    for (const flow of backends) byService.set(serviceId(flow), [...(byService.get(serviceId(flow)) ?? []), flow]);
    const result: [CountedFlow, number][] = [];
    for (const flows of byService.values()) {
      const rates = flows.map((f) => this.backendRates.rate(flowId(f)));
      const total = rates.reduce((a, b) => a + b, 0);
      flows.forEach((flow, i) => result.push([flow, total > 0 ? rates[i]! / total : 0]));
    }
    return result;
  }

  async sample(): Promise<void> {
    const reading = await this.counters.read();
    this.latest = reading;
    const seen = (flows: readonly CountedFlow[], window: RateWindow) => {
      const keys = new Set<string>();
      for (const flow of flows) {
        keys.add(flowId(flow));
        window.add(flowId(flow), reading.at, flow.packets);
      }
      window.retain(keys);
    };
    seen(reading.vips, this.vipRates);
    seen(reading.backends, this.backendRates);
  }

  start(periodMs = 1000): void {
    const tick = () =>
      this.sample().catch((err: unknown) => this.logger.warn('cannot read the traffic counters', { error: (err as Error).message }));
    void tick();
    this.timer = setInterval(tick, periodMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
