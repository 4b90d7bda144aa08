import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { DISPATCH_MODES, ENDPOINT_CHAIN_MODES, type Dispatch, type EndpointChains, type IptablesVariant } from '@hybrid-proxy/iptables';
import { LOCAL_TRAFFIC_MODES, type IPFamily, type LocalTrafficDetector } from '@hybrid-proxy/model';
import type { AttachRequest } from '@hybrid-proxy/xdp';
import { SCHEDULERS, type Scheduler } from '@hybrid-proxy/ipvs';
import { PROXY_MODES, type ProxyMode } from './backend.js';
import { parseChoice, parseCIDR, parseDuration, parseInteger, UsageError } from './flag-values.js';
import { parseListenAddress, type ListenAddress } from './health-server.js';
import { readKubeProxyConfig, type IgnoredField, type KubeProxyConfigFile } from './kube-proxy-config-file.js';
import type { Logger, LogLevel } from './logger.js';

/** kube-proxy's conntrack settings; 0 leaves the kernel's value as it is. */
export interface ConntrackSettings {
  readonly maxPerCore: number;
  readonly min: number;
  readonly tcpEstablishedTimeoutMs: number;
  readonly tcpCloseWaitTimeoutMs: number;
  readonly tcpBeLiberal: boolean;
  readonly udpTimeoutMs: number;
  readonly udpStreamTimeoutMs: number;
}

/** IPVS connection timeouts (`ipvsadm --set`); 0 leaves the kernel's value as it is. */
export interface IpvsTimeouts {
  readonly tcpMs: number;
  readonly tcpFinMs: number;
  readonly udpMs: number;
}

export interface ProxyConfig {
  readonly mode: ProxyMode;
  readonly manifests: string | undefined;
  readonly kubeconfig: string | undefined;
  /** What traffic counts as local, per family (--detect-local-mode with --cluster-cidr and friends). */
  readonly localTraffic: LocalTrafficDetector;
  /** The cluster's Pod ranges, at most one per family. */
  readonly clusterCIDRs: readonly string[];
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
  /** Exit when a server cannot bind (kube-proxy's bindAddressHardFail); otherwise go on without it. */
  readonly bindAddressHardFail: boolean;
  /** kube-proxy's --bind-address: this node's primary IP, when the Node object cannot say. */
  readonly bindAddress: string | undefined;
  /** Node IPs the NodePorts answer on: CIDRs and the keywords primary, localhost, all (empty: all). */
  readonly nodePortAddresses: readonly string[];
  /** IPv4 NodePorts answer on 127.0.0.1 as well (kube-proxy's --iptables-localhost-nodeports, default true). */
  readonly localhostNodePorts: boolean;
  readonly logLevel: LogLevel;
  /** Interfaces to attach the eBPF counters to; empty: no counters. */
  readonly xdpInterfaces: readonly string[];
  readonly xdpMode: AttachRequest;
  readonly bpffs: string;
  readonly ipvsScheduler: Scheduler;
  readonly ipvsStrictARP: boolean;
  /** IPVS mode never touches virtual servers on addresses in these ranges. */
  readonly ipvsExcludeCIDRs: readonly string[];
  readonly ipvsTimeouts: IpvsTimeouts;
  /** `cleanup` also removes what kube-proxy left: its chains, jumps, IPVS sets and nftables tables. */
  readonly kubeProxyLeftovers: boolean;
  readonly conntrack: ConntrackSettings;
  /** Where settings came from: `--config FILE`, if given. */
  readonly configFile: string | undefined;
  /** Config-file fields read and not acted on: logged once at start. */
  readonly ignoredFields: readonly IgnoredField[];
}

/**
 * Flags shared by run, plan and cleanup: kube-proxy's names with kube-proxy's meaning, and hybrid-proxy's own.
 * Booleans also take kube-proxy's `--flag=true` and `--flag=false`.
 */
export const PROXY_FLAGS = {
  'config': { type: 'string' },
  'mode': { type: 'string' },
  'proxy-mode': { type: 'string' },
  'manifests': { type: 'string' },
  'kubeconfig': { type: 'string' },
  'cluster-cidr': { type: 'string' },
  'detect-local-mode': { type: 'string' },
  'pod-bridge-interface': { type: 'string' },
  'pod-interface-name-prefix': { type: 'string' },
  'service-cidr': { type: 'string' },
  'nodeport-addresses': { type: 'string' },
  'bind-address': { type: 'string' },
  'bind-address-hard-fail': { type: 'boolean' },
  'masquerade-all': { type: 'boolean' },
  'iptables-masquerade-bit': { type: 'string' },
  'iptables-localhost-nodeports': { type: 'boolean' },
  'hostname-override': { type: 'string' },
  'ip-families': { type: 'string' },
  'iptables-variant': { type: 'string' },
  'dispatch': { type: 'string' },
  'endpoint-chains': { type: 'string' },
  'large-cluster-endpoints-threshold': { type: 'string' },
  'min-sync-period': { type: 'string' },
  'sync-period': { type: 'string' },
  'iptables-min-sync-period': { type: 'string' },
  'iptables-sync-period': { type: 'string' },
  'ipvs-min-sync-period': { type: 'string' },
  'ipvs-sync-period': { type: 'string' },
  'full-sync-period': { type: 'string' },
  'healthz-bind-address': { type: 'string' },
  'metrics-bind-address': { type: 'string' },
  'log-level': { type: 'string' },
  'v': { type: 'string', short: 'v' },
  'xdp-interfaces': { type: 'string' },
  'xdp-mode': { type: 'string' },
  'bpffs': { type: 'string' },
  'kube-proxy-leftovers': { type: 'boolean' },
  'ipvs-scheduler': { type: 'string' },
  'ipvs-strict-arp': { type: 'boolean' },
  'ipvs-exclude-cidrs': { type: 'string' },
  'ipvs-tcp-timeout': { type: 'string' },
  'ipvs-tcpfin-timeout': { type: 'string' },
  'ipvs-udp-timeout': { type: 'string' },
  'conntrack-max-per-core': { type: 'string' },
  'conntrack-min': { type: 'string' },
  'conntrack-tcp-timeout-established': { type: 'string' },
  'conntrack-tcp-timeout-close-wait': { type: 'string' },
  'conntrack-tcp-be-liberal': { type: 'boolean' },
  'conntrack-udp-timeout': { type: 'string' },
  'conntrack-udp-timeout-stream': { type: 'string' },
} as const;

type ProxyFlagValues = FlagValues<typeof PROXY_FLAGS>;
type ProxyFlag = keyof typeof PROXY_FLAGS & string;

export type FlagSpec = Readonly<Record<string, { readonly type: 'string' | 'boolean'; readonly short?: string }>>;
export type FlagValues<T extends FlagSpec> = { [K in keyof T]?: T[K]['type'] extends 'boolean' ? boolean : string };

/**
 * node:util parseArgs in strict mode: an unknown or malformed flag is a UsageError. Boolean flags also take Go's
 * `--flag=true` / `--flag=false`, as kube-proxy's DaemonSets write them.
 */
export function parseFlags<T extends FlagSpec>(args: readonly string[], options: T): FlagValues<T> {
  const explicit: Record<string, boolean> = {};
  const rest = args.filter((arg) => {
    const match = /^--([a-z0-9-]+)=(true|false)$/.exec(arg);
    if (!match || options[match[1]!]?.type !== 'boolean') return true;
    explicit[match[1]!] = match[2] === 'true';
    return false;
  });
  try {
    const { values } = parseArgs({ args: rest, options, strict: true, allowPositionals: false });
    return { ...values, ...explicit } as FlagValues<T>;
  } catch (err) {
    throw new UsageError((err as Error).message.replace(/\. To specify a positional.*$/s, '.'));
  }
}

/** Flags over the config file over the defaults, each value with the name to blame when it is wrong. */
class Settings {
  constructor(
    private readonly flags: ProxyFlagValues,
    private readonly file: KubeProxyConfigFile | undefined,
  ) {}

  get(name: ProxyFlag): string | boolean | undefined {
    return this.flags[name] ?? this.file?.settings.get(name)?.value;
  }

  string(name: ProxyFlag): string | undefined {
    const value = this.get(name);
    return value === undefined ? undefined : String(value);
  }

  boolean(name: ProxyFlag, fallback: boolean): boolean {
    const value = this.get(name);
    return typeof value === 'boolean' ? value : fallback;
  }

  /** `--flag`, or `config.conf: iptables.syncPeriod` when the file gave the value. */
  origin(name: ProxyFlag): string {
    return this.flags[name] === undefined && this.file?.settings.has(name) ? this.file.settings.get(name)!.origin : `--${name}`;
  }

  list(name: ProxyFlag): string[] {
    return (this.string(name) ?? '').split(',').map((v) => v.trim()).filter(Boolean);
  }

  duration(name: ProxyFlag, fallback: string): number {
    return parseDuration(this.string(name) ?? fallback, this.origin(name));
  }

  /** The first of these that is set (a general flag before its mode-specific kube-proxy name). */
  firstSet(...names: ProxyFlag[]): ProxyFlag {
    return names.find((n) => this.get(n) !== undefined) ?? names[0]!;
  }
}

/**
 * The configuration: `--config` (kube-proxy's KubeProxyConfiguration) when given, the flags over it, and
 * kube-proxy's defaults. Pure but for reading the config file.
 */
export function proxyConfigFrom(values: ProxyFlagValues, file: KubeProxyConfigFile | undefined = values['config'] ? readKubeProxyConfig(values['config']) : undefined): ProxyConfig {
  const s = new Settings(values, file);
  if (s.get('manifests') && values['kubeconfig']) throw new UsageError('--manifests and --kubeconfig name two sources; give one of them');
  if (values['mode'] && values['proxy-mode'] && values['mode'] !== values['proxy-mode']) {
    throw new UsageError(`--mode ${values['mode']} and --proxy-mode ${values['proxy-mode']} disagree; give one of them`);
  }
  const modeFlag = s.firstSet('mode', 'proxy-mode');
  const mode = parseChoice(s.string(modeFlag) ?? 'iptables', s.origin(modeFlag), PROXY_MODES);
  const families = (s.string('ip-families') ?? '4,6').split(',').map((f) => parseChoice(f.trim().replace(/^ipv/i, ''), '--ip-families', ['4', '6']));
  // kube-proxy keeps a sync period per mode; hybrid-proxy's --sync-period and --min-sync-period cover both.
  const syncFlag = s.firstSet('sync-period', mode === 'ipvs' ? 'ipvs-sync-period' : 'iptables-sync-period');
  const minSyncFlag = s.firstSet('min-sync-period', mode === 'ipvs' ? 'ipvs-min-sync-period' : 'iptables-min-sync-period');
  const clusterCIDRs = perFamilyCIDRs(s.list('cluster-cidr'), s.origin('cluster-cidr'));
  const verbosity = s.string('v');
  return {
    mode,
    manifests: s.string('manifests'),
    kubeconfig: s.get('manifests') ? undefined : s.string('kubeconfig'),
    clusterCIDRs,
    localTraffic: localTrafficDetector(s, clusterCIDRs),
    serviceCIDRs: s.list('service-cidr').map((cidr) => parseCIDR(cidr, s.origin('service-cidr'))),
    masqueradeAll: s.boolean('masquerade-all', false),
    masqueradeBit: parseInteger(s.string('iptables-masquerade-bit') ?? '14', s.origin('iptables-masquerade-bit'), 0, 31),
    hostname: (s.string('hostname-override') ?? process.env['NODE_NAME'] ?? hostname()).toLowerCase(),
    families: [...new Set(families)].map(Number) as IPFamily[],
    iptablesVariant: parseChoice(s.string('iptables-variant') ?? 'auto', '--iptables-variant', ['auto', 'nft', 'legacy'] as const),
    dispatch: parseChoice(s.string('dispatch') ?? 'tree', '--dispatch', DISPATCH_MODES),
    // kube-proxy's layout (linear) comes whole, with its KUBE-SEP chains, unless asked otherwise.
    endpointChains: parseChoice(s.string('endpoint-chains') ?? (s.string('dispatch') === 'linear' ? 'per-endpoint' : 'inline'), '--endpoint-chains', ENDPOINT_CHAIN_MODES),
    commentsEndpointThreshold: parseInteger(s.string('large-cluster-endpoints-threshold') ?? '1000', '--large-cluster-endpoints-threshold', 0, 1_000_000_000),
    minSyncPeriodMs: s.duration(minSyncFlag, '1s'),
    syncPeriodMs: positive(s.duration(syncFlag, '30s'), s.origin(syncFlag)),
    fullSyncPeriodMs: positive(s.duration('full-sync-period', '1h'), '--full-sync-period'),
    healthz: parseListenAddress(s.string('healthz-bind-address') ?? '0.0.0.0:10256', s.origin('healthz-bind-address')),
    metrics: parseListenAddress(s.string('metrics-bind-address') ?? '127.0.0.1:10249', s.origin('metrics-bind-address')),
    bindAddressHardFail: s.boolean('bind-address-hard-fail', true),
    bindAddress: s.string('bind-address'),
    nodePortAddresses: s.list('nodeport-addresses').map((a) => (['primary', 'localhost', 'all'].includes(a) ? a : parseCIDR(a, s.origin('nodeport-addresses')))),
    localhostNodePorts: s.boolean('iptables-localhost-nodeports', true),
    // klog verbosity: 4 and above is debug output.
    logLevel: parseChoice(s.string('log-level') ?? (verbosity !== undefined && parseInteger(verbosity, s.origin('v'), 0, 10) >= 4 ? 'debug' : 'info'), '--log-level', ['debug', 'info', 'warn', 'error'] as const),
    xdpInterfaces: s.list('xdp-interfaces').map((i) => interfaceName(i, '--xdp-interfaces')),
    xdpMode: parseChoice(s.string('xdp-mode') ?? 'auto', '--xdp-mode', ['auto', 'native', 'generic', 'tc'] as const),
    bpffs: s.string('bpffs') ?? '/run/hybrid-proxy/bpffs',
    ipvsScheduler: parseChoice(s.string('ipvs-scheduler') ?? 'rr', s.origin('ipvs-scheduler'), SCHEDULERS),
    ipvsStrictARP: s.boolean('ipvs-strict-arp', false),
    ipvsExcludeCIDRs: s.list('ipvs-exclude-cidrs').map((cidr) => parseCIDR(cidr, s.origin('ipvs-exclude-cidrs'))),
    kubeProxyLeftovers: s.boolean('kube-proxy-leftovers', false),
    ipvsTimeouts: { tcpMs: s.duration('ipvs-tcp-timeout', '0s'), tcpFinMs: s.duration('ipvs-tcpfin-timeout', '0s'), udpMs: s.duration('ipvs-udp-timeout', '0s') },
    conntrack: {
      maxPerCore: parseInteger(s.string('conntrack-max-per-core') ?? '32768', s.origin('conntrack-max-per-core'), 0, 2 ** 31 - 1),
      min: parseInteger(s.string('conntrack-min') ?? '131072', s.origin('conntrack-min'), 0, 2 ** 31 - 1),
      tcpEstablishedTimeoutMs: s.duration('conntrack-tcp-timeout-established', '24h'),
      tcpCloseWaitTimeoutMs: s.duration('conntrack-tcp-timeout-close-wait', '1h'),
      tcpBeLiberal: s.boolean('conntrack-tcp-be-liberal', false),
      udpTimeoutMs: s.duration('conntrack-udp-timeout', '0s'),
      udpStreamTimeoutMs: s.duration('conntrack-udp-timeout-stream', '0s'),
    },
    configFile: values['config'],
    ignoredFields: file?.ignored ?? [],
  };
}

/** kube-proxy's --detect-local-mode (default ClusterCIDR) with the settings each mode needs. */
function localTrafficDetector(s: Settings, clusterCIDRs: readonly string[]): LocalTrafficDetector {
  const mode = parseChoice(s.string('detect-local-mode') ?? 'ClusterCIDR', s.origin('detect-local-mode'), LOCAL_TRAFFIC_MODES);
  switch (mode) {
    case 'ClusterCIDR':
      return clusterCIDRs.length > 0 ? { mode, cidrs: clusterCIDRs } : { mode: 'None' };
    case 'NodeCIDR':
      return { mode };
    case 'BridgeInterface': {
      const name = s.string('pod-bridge-interface');
      if (!name) throw new UsageError(`${s.origin('detect-local-mode')} BridgeInterface needs the bridge's name (--pod-bridge-interface, or detectLocal.bridgeInterface)`);
      return { mode, bridgeInterface: interfaceName(name, s.origin('pod-bridge-interface')) };
    }
    case 'InterfaceNamePrefix': {
      const prefix = s.string('pod-interface-name-prefix');
      if (!prefix) throw new UsageError(`${s.origin('detect-local-mode')} InterfaceNamePrefix needs the prefix (--pod-interface-name-prefix, or detectLocal.interfaceNamePrefix)`);
      return { mode, interfaceNamePrefix: interfaceName(prefix, s.origin('pod-interface-name-prefix')) };
    }
    case 'None':
      return { mode };
  }
}

/** `v4`, `v6` or `v4,v6`: at most one CIDR per family, as kube-proxy takes --cluster-cidr. */
function perFamilyCIDRs(texts: readonly string[], origin: string): string[] {
  const cidrs = texts.map((text) => parseCIDR(text, origin));
  const v6 = cidrs.filter((c) => c.includes(':'));
  if (v6.length > 1 || cidrs.length - v6.length > 1) throw new UsageError(`${origin} ${JSON.stringify(texts.join(','))}: give at most one CIDR per IP family (for example 10.244.0.0/16,fd00:10:244::/56)`);
  return cidrs;
}

function positive(ms: number, origin: string): number {
  if (ms <= 0) throw new UsageError(`${origin} must be greater than 0`);
  return ms;
}

/** Linux interface names: 1-15 characters, no slash or whitespace. */
function interfaceName(name: string, origin: string): string {
  if (!/^[^\s/:]{1,15}$/.test(name)) throw new UsageError(`${origin}: ${JSON.stringify(name)} is not an interface name`);
  return name;
}

/** Once at start: what the config file says that this proxy does not act on. */
export function logIgnoredFields(config: ProxyConfig, logger: Logger): void {
  for (const { field, value, why } of config.ignoredFields) {
    logger.warn(why === 'unknown field' ? 'config file: unknown field, ignored' : 'config file: field not implemented by hybrid-proxy, ignored', { config: config.configFile, field, value });
  }
}
