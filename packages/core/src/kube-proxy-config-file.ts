import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { parseDocument } from 'yaml';
import { UsageError } from './flag-values.js';

/** The group and kind kube-proxy reads (kubeadm writes this into the kube-proxy ConfigMap as `config.conf`). */
export const KUBE_PROXY_CONFIG_API_VERSION = 'kubeproxy.config.k8s.io/v1alpha1';
export const KUBE_PROXY_CONFIG_KIND = 'KubeProxyConfiguration';

/** One value from the file, in the vocabulary of the command line, and where it came from. */
export interface FileSetting {
  readonly value: string | boolean;
  /** `config.conf: iptables.syncPeriod`, for errors about the value. */
  readonly origin: string;
}

/** A field that was read and is not acted on, logged once at start. */
export interface IgnoredField {
  readonly field: string;
  readonly value: unknown;
  readonly why: 'not implemented' | 'unknown field';
}

export interface KubeProxyConfigFile {
  /** By flag name (`iptables-sync-period`): the flags override these. */
  readonly settings: ReadonlyMap<string, FileSetting>;
  readonly ignored: readonly IgnoredField[];
}

type FieldType = 'string' | 'boolean' | 'integer' | 'duration' | 'strings';

/**
 * A field hybrid-proxy implements, and the flag it stands for. `zeroIsUnset`: kube-proxy defaults the zero value
 * (kubeadm writes every field, `syncPeriod: 0s` and `mode: ""` among them); a null always means unset.
 */
interface Field {
  readonly type: FieldType;
  readonly flag: string;
  readonly zeroIsUnset: boolean;
}

const field = (type: FieldType, flag: string, zeroIsUnset = true): Field => ({ type, flag, zeroIsUnset });

/** KubeProxyConfiguration v1alpha1, as far as hybrid-proxy acts on it. */
const IMPLEMENTED: Readonly<Record<string, Field>> = {
  'mode': field('string', 'proxy-mode'),
  'clusterCIDR': field('string', 'cluster-cidr'),
  'detectLocalMode': field('string', 'detect-local-mode'),
  'detectLocal.bridgeInterface': field('string', 'pod-bridge-interface'),
  'detectLocal.interfaceNamePrefix': field('string', 'pod-interface-name-prefix'),
  'nodePortAddresses': field('strings', 'nodeport-addresses'),
  'bindAddress': field('string', 'bind-address'),
  'bindAddressHardFail': field('boolean', 'bind-address-hard-fail'),
  'healthzBindAddress': field('string', 'healthz-bind-address'),
  'metricsBindAddress': field('string', 'metrics-bind-address'),
  'hostnameOverride': field('string', 'hostname-override'),
  'clientConnection.kubeconfig': field('string', 'kubeconfig'),
  'iptables.masqueradeAll': field('boolean', 'masquerade-all'),
  'iptables.masqueradeBit': field('integer', 'iptables-masquerade-bit', false),
  'iptables.syncPeriod': field('duration', 'iptables-sync-period'),
  'iptables.minSyncPeriod': field('duration', 'iptables-min-sync-period'),
  'iptables.localhostNodePorts': field('boolean', 'iptables-localhost-nodeports', false),
  'ipvs.scheduler': field('string', 'ipvs-scheduler'),
  'ipvs.strictARP': field('boolean', 'ipvs-strict-arp'),
  'ipvs.syncPeriod': field('duration', 'ipvs-sync-period'),
  'ipvs.minSyncPeriod': field('duration', 'ipvs-min-sync-period'),
  'ipvs.excludeCIDRs': field('strings', 'ipvs-exclude-cidrs'),
  'ipvs.tcpTimeout': field('duration', 'ipvs-tcp-timeout'),
  'ipvs.tcpFinTimeout': field('duration', 'ipvs-tcpfin-timeout'),
  'ipvs.udpTimeout': field('duration', 'ipvs-udp-timeout'),
  // Pointers in kube-proxy: null takes the default, 0 leaves the kernel's value as it is.
  'conntrack.maxPerCore': field('integer', 'conntrack-max-per-core', false),
  'conntrack.min': field('integer', 'conntrack-min', false),
  'conntrack.tcpEstablishedTimeout': field('duration', 'conntrack-tcp-timeout-established', false),
  'conntrack.tcpCloseWaitTimeout': field('duration', 'conntrack-tcp-timeout-close-wait', false),
  'conntrack.tcpBeLiberal': field('boolean', 'conntrack-tcp-be-liberal'),
  'conntrack.udpTimeout': field('duration', 'conntrack-udp-timeout'),
  'conntrack.udpStreamTimeout': field('duration', 'conntrack-udp-timeout-stream'),
  'logging.verbosity': field('integer', 'v'),
};

/** Fields kube-proxy knows and hybrid-proxy does not act on: logged when they carry a value, never an error. */
const NOT_IMPLEMENTED = new Set([
  'featureGates', 'clientConnection.acceptContentTypes', 'clientConnection.contentType', 'clientConnection.qps', 'clientConnection.burst',
  'logging.format', 'logging.flushFrequency', 'logging.options', 'logging.vmodule', 'enableProfiling', 'showHiddenMetricsForVersion',
  'nftables', 'winkernel', 'oomScoreAdj', 'configSyncPeriod', 'portRange', 'windowsRunAsService', 'iptables.snatNodeInternalIP',
]);

/** Objects whose fields are looked up one by one. */
const SECTIONS = new Set(['clientConnection', 'detectLocal', 'iptables', 'ipvs', 'conntrack', 'logging']);

const GO_DURATION = /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$|^0$/;

/** Reads `--config FILE`: a KubeProxyConfiguration as YAML or JSON. Any mistake is a UsageError naming the field. */
export function readKubeProxyConfig(path: string): KubeProxyConfigFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(`--config ${path}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
  return parseKubeProxyConfig(text, basename(path));
}

export function parseKubeProxyConfig(text: string, name: string): KubeProxyConfigFile {
  const document = parseDocument(text, { uniqueKeys: true });
  if (document.errors.length > 0) throw new UsageError(`${name}: not valid YAML: ${document.errors[0]!.message.split('\n')[0]}`);
  const root: unknown = document.toJS();
  if (!isObject(root)) throw new UsageError(`${name}: expected a ${KUBE_PROXY_CONFIG_KIND} object, got ${describe(root)}`);
  if (root['apiVersion'] !== KUBE_PROXY_CONFIG_API_VERSION) {
    throw new UsageError(`${name}: apiVersion ${JSON.stringify(root['apiVersion'])} is not supported; expected ${KUBE_PROXY_CONFIG_API_VERSION}`);
  }
  if (root['kind'] !== KUBE_PROXY_CONFIG_KIND) throw new UsageError(`${name}: kind ${JSON.stringify(root['kind'])} is not supported; expected ${KUBE_PROXY_CONFIG_KIND}`);

  const settings = new Map<string, FileSetting>();
  const ignored: IgnoredField[] = [];
  const visit = (object: Record<string, unknown>, prefix: string): void => {
    for (const [key, value] of Object.entries(object)) {
      const path = prefix + key;
      if (path === 'apiVersion' || path === 'kind') continue;
      const implemented = IMPLEMENTED[path];
      if (implemented) {
        const converted = convert(value, implemented, `${name}: ${path}`);
        if (converted !== undefined) settings.set(implemented.flag, { value: converted, origin: `${name}: ${path}` });
      } else if (SECTIONS.has(path)) {
        if (value === null) continue;
        if (!isObject(value)) throw new UsageError(`${name}: ${path}: expected an object, got ${describe(value)}`);
        visit(value, `${path}.`);
      } else if (NOT_IMPLEMENTED.has(path)) {
        if (!isZero(value)) ignored.push({ field: path, value, why: 'not implemented' });
      } else {
        ignored.push({ field: path, value, why: 'unknown field' });
      }
    }
  };
  visit(root, '');
  return { settings, ignored };
}

/** The value as the flag would take it; undefined when it means "use the default". */
function convert(value: unknown, spec: Field, origin: string): string | boolean | undefined {
  if (value === null || value === undefined) return undefined;
  const wrong = (expected: string): never => {
    throw new UsageError(`${origin}: expected ${expected}, got ${describe(value)}`);
  };
  switch (spec.type) {
    case 'boolean':
      if (typeof value !== 'boolean') wrong('true or false');
      return spec.zeroIsUnset && value === false ? undefined : (value as boolean);
    case 'integer':
      if (typeof value !== 'number' || !Number.isInteger(value)) wrong('an integer');
      return spec.zeroIsUnset && value === 0 ? undefined : String(value);
    case 'duration':
      if (typeof value !== 'string' || !GO_DURATION.test(value)) wrong('a duration such as "30s" or "1m30s"');
      return spec.zeroIsUnset && /^0+(\.0+)?[a-zµ]*$/.test(value as string) ? undefined : (value as string);
    case 'string':
      if (typeof value !== 'string') wrong('a string');
      return spec.zeroIsUnset && value === '' ? undefined : (value as string);
    case 'strings':
      if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) wrong('a list of strings');
      return (value as string[]).join(',');
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** kubeadm's way of saying nothing: every leaf empty, false, zero or null. */
function isZero(value: unknown): boolean {
  if (value === null || value === undefined || value === false || value === 0 || value === '') return true;
  if (typeof value === 'string') return /^0+(\.0+)?[a-zµ]*$/.test(value);
  if (Array.isArray(value)) return value.length === 0;
  if (isObject(value)) return Object.values(value).every(isZero);
  return false;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return `a list (${JSON.stringify(value).slice(0, 60)})`;
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${JSON.stringify(value)}`;
}
