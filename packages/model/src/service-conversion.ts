import { parseCIDR } from './cidr.js';
import { parseIP } from './ip-address.js';
import { convertGuarded, invalid, type Conversion } from './invalid.js';
import {
  isDns1035Label,
  isDns1123Label,
  isIanaSvcName,
  isPortNumber,
  isRecord,
  labelOf,
} from './object-checks.js';
import { servicePortKey } from './service-port-key.js';
import type { IPFamily, Protocol, ServicePort, SessionAffinity, TrafficPolicy } from './types.js';

/** Services carrying this label belong to another proxy (kube-proxy skips them too). */
export const SERVICE_PROXY_NAME_LABEL = 'service.kubernetes.io/service-proxy-name';
export const HEADLESS_LABEL = 'service.kubernetes.io/headless';

const PROTOCOLS: readonly Protocol[] = ['TCP', 'UDP', 'SCTP'];
const SERVICE_TYPES = ['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName'];
const DEFAULT_AFFINITY_TIMEOUT = 10800;
const MAX_AFFINITY_TIMEOUT = 86400;

/** A converted Service: its identity and the service ports the proxy programs. */
export interface ServiceDef {
  readonly namespace: string;
  readonly name: string;
  readonly ports: readonly ServicePort[];
}

/** `null` value: the Service is valid but not for a proxy to program (headless, ExternalName, other proxy). */
export type ServiceConversion = Conversion<ServiceDef | null>;

export function objectRef(obj: unknown, index?: number): string {
  if (isRecord(obj) && isRecord(obj['metadata'])) {
    const { namespace, name } = obj['metadata'];
    if (typeof name === 'string') return `${typeof namespace === 'string' && namespace ? namespace : 'default'}/${name}`;
  }
  return index === undefined ? '<unnamed>' : `#${index}`;
}

/** Validates the identity shared by Services and EndpointSlices; a missing namespace means `default`, as kubectl applies it. */
export function readIdentity(obj: unknown, validName: (v: unknown) => boolean): { namespace: string; name: string } {
  if (!isRecord(obj)) invalid('not-an-object', 'expected an object');
  const meta = obj['metadata'];
  if (!isRecord(meta)) invalid('missing-metadata', 'metadata is missing or not an object');
  const name = meta['name'];
  if (name === undefined || name === '') invalid('missing-name', 'metadata.name is missing');
  if (!validName(name)) invalid('invalid-name', `metadata.name ${JSON.stringify(name)} is not a valid name`);
  const namespace = meta['namespace'] ?? 'default';
  if (!isDns1123Label(namespace)) invalid('invalid-namespace', `metadata.namespace ${JSON.stringify(namespace)} is not a DNS-1123 label`);
  if (meta['labels'] !== undefined && !isRecord(meta['labels'])) invalid('invalid-labels', 'metadata.labels is not a map');
  return { namespace, name: name as string };
}

/**
 * `obj` is a v1 Service as the API server sends it (client-node's V1Service, or parsed YAML), checked field by
 * field: the model depends on no Kubernetes client.
 */
export function convertService(obj: unknown, index?: number): ServiceConversion {
  return convertGuarded('Service', () => objectRef(obj, index), (warn) => serviceDef(obj, warn));
}

/** Records a skipped field of an otherwise valid Service (logged and counted as an invalid object). */
type Warn = (reason: string, message: string) => void;

function serviceDef(obj: unknown, warn: Warn): ServiceDef | null {
  const { namespace, name } = readIdentity(obj, isDns1035Label);
  const record = obj as Record<string, unknown>;
  if (labelOf(record, SERVICE_PROXY_NAME_LABEL) !== undefined) return null;
  const spec = record['spec'];
  if (!isRecord(spec)) invalid('missing-spec', 'spec is missing or not an object');

  const type = spec['type'] ?? 'ClusterIP';
  if (typeof type !== 'string' || !SERVICE_TYPES.includes(type)) invalid('invalid-type', `spec.type ${JSON.stringify(type)} is not one of ${SERVICE_TYPES.join(', ')}`);
  if (type === 'ExternalName') return null;

  const clusterIPs = readClusterIPs(spec);
  if (clusterIPs === 'None') return null; // headless: DNS only, nothing to proxy
  if (clusterIPs.length === 0) invalid('missing-cluster-ip', 'spec.clusterIP is empty: the API server assigns one, so the object is incomplete');

  const sessionAffinity = readAffinity(spec);
  const externalTrafficPolicy = readPolicy(spec, 'externalTrafficPolicy');
  const internalTrafficPolicy = readPolicy(spec, 'internalTrafficPolicy');
  // A bad entry of these lists costs that entry (or, for source ranges, the load-balancer IPs), not the Service:
  // its ClusterIP traffic keeps flowing.
  const externalIPs = readExternalIPs(spec['externalIPs'], warn);
  const ranges = readSourceRanges(spec['loadBalancerSourceRanges'], warn);
  const ingressIPs = readLoadBalancerIPs(record['status'], warn);
  // Fail closed: with a range that cannot be read, the firewall cannot be written, so the LB IPs get no rules.
  const loadBalancerIPs = ranges === undefined ? [] : ingressIPs;
  if (ranges === undefined && ingressIPs.length > 0) warn('load-balancer-ips-skipped', `status.loadBalancer.ingress ${ingressIPs.join(', ')} not programmed: spec.loadBalancerSourceRanges cannot be read`);
  const loadBalancerSourceRanges = ranges ?? [];
  const healthCheckNodePort = readHealthCheckNodePort(spec, externalTrafficPolicy, warn);

  const rawPorts = spec['ports'];
  if (!Array.isArray(rawPorts)) invalid('missing-ports', 'spec.ports is missing or not a list');
  if (rawPorts.length === 0) invalid('missing-ports', 'spec.ports is empty');
  const seenNames = new Set<string>();
  const seenPorts = new Set<string>();
  const ports = rawPorts.map((raw: unknown, i: number): ServicePort => {
    const where = `spec.ports[${i}]`;
    if (!isRecord(raw)) invalid('port-not-object', `${where} is not an object`);
    const portName = raw['name'] ?? '';
    if (typeof portName !== 'string') invalid('invalid-port-name', `${where}.name is not a string`);
    if (portName !== '' && !isDns1123Label(portName)) invalid('invalid-port-name', `${where}.name ${JSON.stringify(portName)} is not a DNS-1123 label`);
    if (portName === '' && rawPorts.length > 1) invalid('missing-port-name', `${where}.name is required when a Service has several ports`);
    if (seenNames.has(portName)) invalid('duplicate-port-name', `${where}.name ${JSON.stringify(portName)} is used twice`);
    seenNames.add(portName);

    const protocol = raw['protocol'] ?? 'TCP';
    if (!PROTOCOLS.includes(protocol as Protocol)) invalid('invalid-protocol', `${where}.protocol ${JSON.stringify(protocol)} is not TCP, UDP or SCTP`);
    const port = raw['port'];
    if (!isPortNumber(port)) invalid('invalid-port', `${where}.port ${JSON.stringify(port)} is not an integer in 1-65535`);
    if (seenPorts.has(`${protocol}/${port}`)) invalid('duplicate-port', `${where} repeats ${protocol} port ${port}`);
    seenPorts.add(`${protocol}/${port}`);

    let nodePort = raw['nodePort'] ?? 0;
    if (nodePort !== 0 && !isPortNumber(nodePort)) {
      warn('invalid-node-port', `${where}.nodePort ${JSON.stringify(nodePort)} is not an integer in 1-65535: not programmed`);
      nodePort = 0;
    }
    if (nodePort !== 0 && type === 'ClusterIP') {
      warn('invalid-node-port', `${where}.nodePort is set on a ClusterIP Service: not programmed`);
      nodePort = 0;
    }

    const targetPort = readTargetPort(raw['targetPort'], port, where);
    return {
      key: servicePortKey(namespace, name, portName),
      namespace,
      name,
      portName,
      protocol: protocol as Protocol,
      clusterIPs,
      port,
      nodePort: nodePort as number,
      targetPort,
      externalIPs,
      loadBalancerIPs,
      loadBalancerSourceRanges,
      sessionAffinity,
      externalTrafficPolicy,
      internalTrafficPolicy,
      healthCheckNodePort,
    };
  });
  return { namespace, name, ports };
}

function readClusterIPs(spec: Record<string, unknown>): string[] | 'None' {
  const single = spec['clusterIP'];
  const list = spec['clusterIPs'];
  if (single !== undefined && typeof single !== 'string') invalid('invalid-cluster-ip', 'spec.clusterIP is not a string');
  if (list !== undefined && (!Array.isArray(list) || !list.every((x) => typeof x === 'string'))) invalid('invalid-cluster-ips', 'spec.clusterIPs is not a list of strings');
  const raw: string[] = (list as string[] | undefined) ?? (single ? [single as string] : []);
  if (single && raw.length > 0 && raw[0] !== single) invalid('cluster-ips-mismatch', `spec.clusterIP ${single} differs from spec.clusterIPs[0] ${raw[0]}`);
  if (raw[0] === 'None') return 'None';
  if (raw.length > 2) invalid('too-many-cluster-ips', `spec.clusterIPs has ${raw.length} entries; at most one per family`);
  const families = new Set<IPFamily>();
  return raw.map((text) => {
    const parsed = parseIP(text);
    if (!parsed) invalid('invalid-cluster-ip', `cluster IP ${JSON.stringify(text)} is not an IP address`);
    if (families.has(parsed.family)) invalid('duplicate-ip-family', `spec.clusterIPs has two IPv${parsed.family} addresses`);
    families.add(parsed.family);
    return parsed.ip;
  });
}

function readAffinity(spec: Record<string, unknown>): SessionAffinity {
  const type = spec['sessionAffinity'] ?? 'None';
  if (type !== 'None' && type !== 'ClientIP') invalid('invalid-session-affinity', `spec.sessionAffinity ${JSON.stringify(type)} is not None or ClientIP`);
  const config = spec['sessionAffinityConfig'];
  if (config !== undefined && !isRecord(config)) invalid('invalid-session-affinity', 'spec.sessionAffinityConfig is not an object');
  const clientIP = config?.['clientIP'];
  if (clientIP !== undefined && !isRecord(clientIP)) invalid('invalid-session-affinity', 'spec.sessionAffinityConfig.clientIP is not an object');
  const timeout = clientIP?.['timeoutSeconds'] ?? DEFAULT_AFFINITY_TIMEOUT;
  if (!Number.isInteger(timeout) || (timeout as number) < 1 || (timeout as number) > MAX_AFFINITY_TIMEOUT) {
    invalid('invalid-affinity-timeout', `sessionAffinityConfig.clientIP.timeoutSeconds ${JSON.stringify(timeout)} is not an integer in 1-${MAX_AFFINITY_TIMEOUT}`);
  }
  return { type, timeoutSeconds: timeout as number };
}

function readPolicy(spec: Record<string, unknown>, field: string): TrafficPolicy {
  const value = spec[field] ?? 'Cluster';
  // "Global" is the pre-1.24 spelling of Cluster that old manifests still carry.
  if (value === 'Global') return 'Cluster';
  if (value !== 'Cluster' && value !== 'Local') invalid(`invalid-${field.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())}`, `spec.${field} ${JSON.stringify(value)} is not Cluster or Local`);
  return value;
}

function readExternalIPs(value: unknown, warn: Warn): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) {
    warn('invalid-external-ip', 'spec.externalIPs is not a list: not programmed');
    return [];
  }
  return value.flatMap((text) => {
    const ip = parseIP(text)?.ip;
    if (ip === undefined) warn('invalid-external-ip', `spec.externalIPs entry ${JSON.stringify(text)} is not an IP address: not programmed`);
    return ip === undefined ? [] : [ip];
  });
}

/** CIDRs (kube-proxy also takes a bare address as its /32 or /128, and so do we); undefined when one is unreadable. */
function readSourceRanges(value: unknown, warn: Warn): string[] | undefined {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) {
    warn('invalid-source-range', 'spec.loadBalancerSourceRanges is not a list');
    return undefined;
  }
  const cidrs: string[] = [];
  for (const text of value) {
    const address = typeof text === 'string' && !text.includes('/') ? parseIP(text.trim()) : undefined;
    const cidr = address ? `${address.ip}/${address.family === 4 ? 32 : 128}` : parseCIDR(typeof text === 'string' ? text.trim() : text)?.cidr;
    if (cidr === undefined) {
      warn('invalid-source-range', `spec.loadBalancerSourceRanges entry ${JSON.stringify(text)} is not a CIDR`);
      return undefined;
    }
    cidrs.push(cidr);
  }
  return cidrs;
}

/** Ingress IPs a proxy programs: `ipMode: Proxy` means the load balancer proxies to the node ports itself. */
function readLoadBalancerIPs(status: unknown, warn: Warn): string[] {
  if (!isRecord(status) || !isRecord(status['loadBalancer'])) return [];
  const ingress = status['loadBalancer']['ingress'];
  if (ingress === undefined || ingress === null) return [];
  if (!Array.isArray(ingress)) {
    warn('invalid-load-balancer-ingress', 'status.loadBalancer.ingress is not a list: not programmed');
    return [];
  }
  return ingress.flatMap((entry: unknown) => {
    if (!isRecord(entry)) {
      warn('invalid-load-balancer-ingress', 'status.loadBalancer.ingress entry is not an object: not programmed');
      return [];
    }
    if (entry['ip'] === undefined || entry['ip'] === '') return []; // hostname-only ingress: nothing to program
    if (entry['ipMode'] === 'Proxy') return [];
    const ip = parseIP(entry['ip'])?.ip;
    if (ip === undefined) warn('invalid-load-balancer-ip', `status.loadBalancer.ingress ip ${JSON.stringify(entry['ip'])} is not an IP address: not programmed`);
    return ip === undefined ? [] : [ip];
  });
}

function readHealthCheckNodePort(spec: Record<string, unknown>, policy: TrafficPolicy, warn: Warn): number {
  const value = spec['healthCheckNodePort'] ?? 0;
  if (value === 0) return 0;
  if (!isPortNumber(value)) {
    warn('invalid-health-check-node-port', `spec.healthCheckNodePort ${JSON.stringify(value)} is not an integer in 1-65535: not served`);
    return 0;
  }
  // The API server allocates one only for LoadBalancer Services with externalTrafficPolicy Local.
  return policy === 'Local' ? value : 0;
}

function readTargetPort(value: unknown, port: number, where: string): number | string {
  if (value === undefined || value === null || value === 0) return port;
  if (typeof value === 'number') {
    if (!isPortNumber(value)) invalid('invalid-target-port', `${where}.targetPort ${value} is not an integer in 1-65535`);
    return value;
  }
  if (typeof value === 'string') {
    if (/^[0-9]+$/.test(value)) {
      const n = Number(value);
      if (!isPortNumber(n)) invalid('invalid-target-port', `${where}.targetPort ${JSON.stringify(value)} is not in 1-65535`);
      return n;
    }
    if (!isIanaSvcName(value)) invalid('invalid-target-port', `${where}.targetPort ${JSON.stringify(value)} is not a valid port name`);
    return value;
  }
  return invalid('invalid-target-port', `${where}.targetPort ${JSON.stringify(value)} is neither a number nor a name`);
}
