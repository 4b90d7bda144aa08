import { availableParallelism } from 'node:os';
import type { Server } from 'node:http';
import { createRunner, type CommandRunner } from '@hybrid-proxy/exec';
import { XdpCounters } from '@hybrid-proxy/xdp';
import { TrafficMetrics } from './traffic-metrics.js';
import { ConntrackCleaner } from './conntrack-cleaner.js';
import { applySysctls, conntrackSysctls, localhostNodePortSysctls } from './conntrack-sysctls.js';
import type { Snapshot } from '@hybrid-proxy/model';
import { healthStatus, startHealthServer, startMetricsServer } from './health-server.js';
import { ServiceHealthServers } from './service-health-servers.js';
import { InvalidObjectReporter } from './invalid-object-reporter.js';
import { createLogger, type Logger } from './logger.js';
import { createProxyMetrics, ipFamilyLabel, zeroFamilyMetrics } from './metrics.js';
import { countNoLocalEndpoints } from './no-local-endpoints.js';
import { createBackend } from './mode-selection.js';
import { hasNetAdmin, PrivilegeError } from './privileges.js';
import { logIgnoredFields, type ProxyConfig } from './proxy-config.js';
import { ChangeTracker } from './change-tracker.js';
import { createSource } from './source-selection.js';
import { SyncLoop } from './sync-loop.js';

export interface RunningProxy {
  readonly loop: SyncLoop;
  stop(): Promise<void>;
}

/** Starts the proxy: preflight, health and metrics servers, the source, and the sync loop. */
export async function startProxy(config: ProxyConfig, logger: Logger = createLogger({ level: config.logLevel })): Promise<RunningProxy> {
  if (!hasNetAdmin()) throw new PrivilegeError('hybrid-proxy run');
  const metrics = createProxyMetrics();
  zeroFamilyMetrics(metrics, config.families);
  logIgnoredFields(config, logger);
  // First, so that a configuration mistake fails before anything is started.
  const source = createSource(config, logger, {
    hooks: {
      onEvent: (resource) => metrics.watchLastEvent.set({ resource }, Date.now() / 1000),
      onRestart: (resource, reason) => metrics.watchRestarts.inc({ resource, reason }),
    },
  });
  const runner = createRunner();
  const backend = createBackend(config, runner, logger, metrics);
  await backend.preflight();
  await applySysctls(runner, [...conntrackSysctls(config.conntrack, availableParallelism()), ...localhostNodePortSysctls(config)], logger);
  const conntrack = new ConntrackCleaner(runner, logger, config.families);
  const changes = new ChangeTracker(metrics);
  const counters = await startCounters(config, runner, logger);
  const traffic = counters ? new TrafficMetrics(counters, metrics.registry, logger) : undefined;

  const healthTimeoutMs = Math.max(2 * config.syncPeriodMs, 2 * config.minSyncPeriodMs);
  // kube-proxy's serviceProxyHealthy: the proxy's own syncs are current (the Node's eligibility is /healthz's).
  const healthChecks = new ServiceHealthServers(logger, () => healthStatus(loop, healthTimeoutMs, Date.now(), '/livez').healthy, config.families.includes(6) ? '::' : '0.0.0.0');
  const loop: SyncLoop = new SyncLoop({
    backend,
    families: config.families,
    metrics,
    logger,
    minSyncPeriodMs: config.minSyncPeriodMs,
    syncPeriodMs: config.syncPeriodMs,
    fullSyncPeriodMs: config.fullSyncPeriodMs,
    afterSync: async (event) => {
      await conntrack.afterSync(event.snapshot, { reconcile: event.outcome.kind === 'full' });
      if (counters) {
        try {
          await counters.syncIndex(event.snapshot);
          // New flows start at zero now: sample at once, so their rates have that baseline.
          await traffic?.sample();
        } catch (err) {
          logger.warn('cannot update the traffic counter index', { error: (err as Error).message });
        }
      }
      changes.onApplied(event.snapshot);
      await healthChecks.update(event.snapshot, config.hostname);
      const now = Date.now();
      for (const t of event.triggerTimes) metrics.networkProgramming.observe({ ip_family: ipFamilyLabel(t.family) }, Math.max(0, now - t.at) / 1000);
      for (const count of countNoLocalEndpoints(event.snapshot, config.families, { nodeName: config.hostname, zone: '' })) {
        const ip_family = ipFamilyLabel(count.family);
        metrics.noLocalEndpoints.set({ ip_family, traffic_policy: 'internal' }, count.internal);
        metrics.noLocalEndpoints.set({ ip_family, traffic_policy: 'external' }, count.external);
      }
    },
  });
  const servers: Server[] = [
    await startHealthServer(config.healthz, loop, healthTimeoutMs, (path, code) =>
      (path === '/healthz' ? metrics.healthzAnswers : metrics.livezAnswers).inc({ code: String(code) })),
    await startMetricsServer(config.metrics, metrics.registry),
  ];
  const reporter = new InvalidObjectReporter(logger, metrics);
  loop.start();
  traffic?.start();
  await source.start((snapshot: Snapshot, meta) => {
    reporter.report(snapshot);
    changes.onReceived(snapshot);
    loop.update(snapshot, meta);
  });
  logger.info('hybrid-proxy started', { pid: process.pid, mode: config.mode, families: config.families, hostname: config.hostname, source: config.manifests ? `manifests ${config.manifests}` : 'kubernetes api', healthz: config.healthz, metrics: config.metrics });

  return {
    loop,
    async stop() {
      await source.stop();
      await loop.stop();
      await backend.close?.();
      traffic?.stop();
      await healthChecks.close();
      await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
      logger.info('hybrid-proxy stopped; the rules stay in place');
    },
  };
}

/**
 * Starts the eBPF counters when interfaces are named. Any failure (no bpftool, no BTF, a verifier rejection, an
 * interface that refuses the program) is logged, and the proxy goes on proxying without counters.
 */
async function startCounters(config: ProxyConfig, runner: CommandRunner, logger: Logger): Promise<XdpCounters | undefined> {
  if (config.xdpInterfaces.length === 0) return undefined;
  const counters = new XdpCounters({ runner, bpffs: config.bpffs, interfaces: config.xdpInterfaces, mode: config.xdpMode });
  try {
    await counters.start();
    logger.info('traffic counters attached', { program: counters.loadResult, bpffs: config.bpffs, attached: Object.fromEntries(counters.attached) });
    return counters;
  } catch (err) {
    logger.error('traffic counters are off; proxying goes on without them', { error: (err as Error).message });
    return undefined;
  }
}

/** `hybrid-proxy run`: runs until SIGINT/SIGTERM, then stops without removing rules (traffic keeps flowing). */
export async function runUntilSignalled(config: ProxyConfig): Promise<void> {
  const proxy = await startProxy(config);
  await new Promise<void>((resolve) => {
    // Persistent listeners, not once(): execa's child cleanup (signal-exit) listens for signals while a tool runs,
    // and re-raises one it sees no other listener for, which would kill the process mid-stop.
    const done = () => resolve();
    process.on('SIGINT', done);
    process.on('SIGTERM', done);
  });
  await proxy.stop();
}
