import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { DISPATCH_MODES, ENDPOINT_CHAIN_MODES, type Dispatch, type EndpointChains, type IptablesVariant } from '@hybrid-proxy/iptables';
import type { IPFamily } from '@hybrid-proxy/model';
import { PROXY_MODES, type ProxyMode } from './backend.js';
import { parseChoice, parseCIDR, parseDuration, parseInteger, UsageError } from './flag-values.js';
import { parseListenAddress, type ListenAddress } from './health-server.js';
import type { LogLevel } from './logger.js';
import type { AttachRequest } from '@hybrid-proxy/xdp';
import { SCHEDULERS, type Scheduler } from '@hybrid-proxy/ipvs';

export interface ProxyConfig {
  readonly mode: ProxyMode;
  readonly manifests: string | undefined;
  readonly kubeconfig: string | undefined;
  readonly clusterCIDR: string;
  readonly serviceCIDRs: readonly string[];
  readonly masqueradeAll: boolean;
  readonly masqueradeBit: number;
  readonly hostname: string;
  readonly families: readonly IPFamily[];
  readonly iptablesVariant: IptablesVariant | 'auto';
  /** How nat KUBE-SERVICES reaches a Service: the gated tree (default) or kube-proxy's linear list. */
  readonly dispatch: Dispatch;
  /** KUBE-SEP chain per endpoint (kube-proxy), or DNAT rules inline in the service chain. */
  readonly endpointChains: EndpointChains;
  /** Rules carry comments up to this many endpoints in total (kube-proxy's large-cluster threshold). */
  readonly commentsEndpointThreshold: number;
  readonly minSyncPeriodMs: number;
  readonly syncPeriodMs: number;
  readonly fullSyncPeriodMs: number;
  readonly healthz: ListenAddress;
  readonly metrics: ListenAddress;
  readonly logLevel: LogLevel;
  /** Interfaces to attach the eBPF counters to; empty: no counters. */
  readonly xdpInterfaces: readonly string[];
  readonly xdpMode: AttachRequest;
  readonly bpffs: string;
  readonly ipvsScheduler: Scheduler;
  readonly ipvsStrictARP: boolean;
}

/** Flags shared by run, plan and cleanup; named like kube-proxy's where they overlap. */
export const PROXY_FLAGS = {
  'mode': { type: 'string' },
  'proxy-mode': { type: 'string' },
  'manifests': { type: 'string' },
  'kubeconfig': { type: 'string' },
  'cluster-cidr': { type: 'string' },
  'service-cidr': { type: 'string' },
  'masquerade-all': { type: 'boolean' },
  'iptables-masquerade-bit': { type: 'string' },
  'hostname-override': { type: 'string' },
  'ip-families': { type: 'string' },
  'iptables-variant': { type: 'string' },
  'dispatch': { type: 'string' },
  'endpoint-chains': { type: 'string' },
  'large-cluster-endpoints-threshold': { type: 'string' },
  'min-sync-period': { type: 'string' },
  'sync-period': { type: 'string' },
  'full-sync-period': { type: 'string' },
  'healthz-bind-address': { type: 'string' },
  'metrics-bind-address': { type: 'string' },
  'log-level': { type: 'string' },
  'xdp-interfaces': { type: 'string' },
  'xdp-mode': { type: 'string' },
  'bpffs': { type: 'string' },
  'ipvs-scheduler': { type: 'string' },
  'ipvs-strict-arp': { type: 'boolean' },
} as const;

type ProxyFlagValues = FlagValues<typeof PROXY_FLAGS>;

export type FlagSpec = Readonly<Record<string, { readonly type: 'string' | 'boolean' }>>;
export type FlagValues<T extends FlagSpec> = { [K in keyof T]?: T[K]['type'] extends 'boolean' ? boolean : string };

/** node:util parseArgs in strict mode: an unknown or malformed flag is a UsageError. */
export function parseFlags<T extends FlagSpec>(args: readonly string[], options: T): FlagValues<T> {
  try {
    return parseArgs({ args: [...args], options, strict: true, allowPositionals: false }).values as FlagValues<T>;
  } catch (err) {
    throw new UsageError((err as Error).message.replace(/\. To specify a positional.*$/s, '.'));
  }
}

export function proxyConfigFrom(values: ProxyFlagValues): ProxyConfig {
  if (values['manifests'] && values['kubeconfig']) throw new UsageError('--manifests and --kubeconfig name two sources; give one of them');
  if (values['mode'] && values['proxy-mode'] && values['mode'] !== values['proxy-mode']) {
    throw new UsageError(`--mode ${values['mode']} and --proxy-mode ${values['proxy-mode']} disagree; give one of them`);
  }
  const families = (values['ip-families'] ?? '4,6').split(',').map((f) => parseChoice(f.trim().replace(/^ipv/i, ''), '--ip-families', ['4', '6']));
  return {
    mode: parseChoice(values['mode'] ?? values['proxy-mode'] ?? 'iptables', '--mode', PROXY_MODES),
    manifests: values['manifests'],
    kubeconfig: values['kubeconfig'],
    clusterCIDR: values['cluster-cidr'] ? parseCIDR(values['cluster-cidr'], '--cluster-cidr') : '',
    serviceCIDRs: (values['service-cidr'] ?? '').split(',').filter(Boolean).map((cidr) => parseCIDR(cidr.trim(), '--service-cidr')),
    masqueradeAll: values['masquerade-all'] ?? false,
    masqueradeBit: parseInteger(values['iptables-masquerade-bit'] ?? '14', '--iptables-masquerade-bit', 0, 31),
    hostname: (values['hostname-override'] ?? process.env['NODE_NAME'] ?? hostname()).toLowerCase(),
    families: [...new Set(families)].map(Number) as IPFamily[],
    iptablesVariant: parseChoice(values['iptables-variant'] ?? 'auto', '--iptables-variant', ['auto', 'nft', 'legacy'] as const),
    dispatch: parseChoice(values['dispatch'] ?? 'tree', '--dispatch', DISPATCH_MODES),
    // kube-proxy's layout (linear) comes whole, with its KUBE-SEP chains, unless asked otherwise.
    endpointChains: parseChoice(values['endpoint-chains'] ?? (values['dispatch'] === 'linear' ? 'per-endpoint' : 'inline'), '--endpoint-chains', ENDPOINT_CHAIN_MODES),
    commentsEndpointThreshold: parseInteger(values['large-cluster-endpoints-threshold'] ?? '1000', '--large-cluster-endpoints-threshold', 0, 1_000_000_000),
    minSyncPeriodMs: parseDuration(values['min-sync-period'] ?? '1s', '--min-sync-period'),
    syncPeriodMs: parseDuration(values['sync-period'] ?? '30s', '--sync-period'),
    fullSyncPeriodMs: parseDuration(values['full-sync-period'] ?? '1h', '--full-sync-period'),
    healthz: parseListenAddress(values['healthz-bind-address'] ?? '0.0.0.0:10256', '--healthz-bind-address'),
    metrics: parseListenAddress(values['metrics-bind-address'] ?? '127.0.0.1:10249', '--metrics-bind-address'),
    logLevel: parseChoice(values['log-level'] ?? 'info', '--log-level', ['debug', 'info', 'warn', 'error'] as const),
    xdpInterfaces: (values['xdp-interfaces'] ?? '').split(',').map((i) => i.trim()).filter(Boolean).map((i) => interfaceName(i)),
    xdpMode: parseChoice(values['xdp-mode'] ?? 'auto', '--xdp-mode', ['auto', 'native', 'generic', 'tc'] as const),
    bpffs: values['bpffs'] ?? '/run/hybrid-proxy/bpffs',
    ipvsScheduler: parseChoice(values['ipvs-scheduler'] ?? 'rr', '--ipvs-scheduler', SCHEDULERS),
    ipvsStrictARP: values['ipvs-strict-arp'] ?? false,
  };
}


/** Linux interface names: 1-15 characters, no slash or whitespace. */
function interfaceName(name: string): string {
  if (!/^[^\s/:]{1,15}$/.test(name)) throw new UsageError(`--xdp-interfaces: ${JSON.stringify(name)} is not an interface name`);
  return name;
}
