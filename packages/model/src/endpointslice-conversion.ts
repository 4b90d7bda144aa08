import { isForbiddenEndpointAddress, parseIP } from './ip-address.js';
import { convertGuarded, invalid, type Conversion } from './invalid.js';
import { isDns1035Label, isDns1123Label, isDns1123Subdomain, isLabelValue, isPortNumber, isRecord, labelOf } from './object-checks.js';
import { objectRef, readIdentity } from './service-conversion.js';
import type { Endpoint, IPFamily, Protocol } from './types.js';

export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
/** Set by the EndpointSlice controller; the network-programming latency metric starts here. */
export const LAST_CHANGE_TRIGGER_TIME_ANNOTATION = 'endpoints.kubernetes.io/last-change-trigger-time';

/**
 * An endpoint as its slice lists it, bound to the slice's first port (0 when the slice lists none). Nearly every
 * slice has one port, so the snapshot takes these objects as they are for it instead of copying each endpoint: at
 * 100k endpoints that copy was 8 MiB kept for good.
 */
export type SliceEndpoint = Endpoint;

export interface SlicePort {
  /** Equals the Service port's name ('' for an unnamed port). */
  readonly name: string;
  readonly protocol: Protocol;
  readonly port: number;
}

export interface EndpointSliceDef {
  readonly namespace: string;
  readonly name: string;
  readonly serviceName: string;
  readonly family: IPFamily;
  readonly ports: readonly SlicePort[];
  readonly endpoints: readonly SliceEndpoint[];
  /** Milliseconds since the epoch, when the controller recorded the change; undefined when absent or unparsable. */
  readonly triggerTime: number | undefined;
}

/** `null` value: a valid slice the proxy does not program (FQDN address type). */
export type EndpointSliceConversion = Conversion<EndpointSliceDef | null>;

const PROTOCOLS: readonly Protocol[] = ['TCP', 'UDP', 'SCTP'];

/**
 * `obj` is a v1 EndpointSlice as the API server sends it (client-node's V1EndpointSlice, or parsed YAML), checked
 * field by field: the model depends on no Kubernetes client.
 */
export function convertEndpointSlice(obj: unknown, index?: number): EndpointSliceConversion {
  return convertGuarded('EndpointSlice', () => objectRef(obj, index), (warn) => sliceDef(obj, warn));
}

function sliceDef(obj: unknown, warn: (reason: string, message: string) => void): EndpointSliceDef | null {
  const { namespace, name } = readIdentity(obj, isDns1123Subdomain);
  const record = obj as Record<string, unknown>;
  const serviceName = labelOf(record, SERVICE_NAME_LABEL);
  if (serviceName === undefined) invalid('missing-service-name', `label ${SERVICE_NAME_LABEL} is missing: the slice belongs to no Service`);
  if (!isDns1035Label(serviceName)) invalid('invalid-service-name', `label ${SERVICE_NAME_LABEL} ${JSON.stringify(serviceName)} is not a Service name`);

  const addressType = record['addressType'];
  if (addressType === 'FQDN') return null;
  if (addressType !== 'IPv4' && addressType !== 'IPv6') invalid('invalid-address-type', `addressType ${JSON.stringify(addressType)} is not IPv4, IPv6 or FQDN`);
  const family: IPFamily = addressType === 'IPv4' ? 4 : 6;

  const ports = readPorts(record['ports']);
  const rawEndpoints = record['endpoints'] ?? [];
  if (!Array.isArray(rawEndpoints)) invalid('endpoints-not-a-list', 'endpoints is not a list');

  const endpoints: SliceEndpoint[] = [];
  const firstPort = ports[0]?.port ?? 0;
  rawEndpoints.forEach((raw: unknown, i: number) => {
    const endpoint = readEndpoint(raw, family, firstPort, `endpoints[${i}]`);
    if (typeof endpoint === 'string') return;
    if ('reason' in endpoint) warn(endpoint.reason, endpoint.message);
    else endpoints.push(endpoint);
  });
  return { namespace, name, serviceName, family, ports, endpoints, triggerTime: readTriggerTime(record) };
}

function readPorts(raw: unknown): SlicePort[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) invalid('ports-not-a-list', 'ports is not a list');
  const names = new Set<string>();
  return raw.map((port: unknown, i: number) => {
    const where = `ports[${i}]`;
    if (!isRecord(port)) invalid('port-not-object', `${where} is not an object`);
    const name = port['name'] ?? '';
    if (typeof name !== 'string' || (name !== '' && !isDns1123Label(name))) invalid('invalid-port-name', `${where}.name ${JSON.stringify(name)} is not a DNS-1123 label`);
    const protocol = port['protocol'] ?? 'TCP';
    if (!PROTOCOLS.includes(protocol as Protocol)) invalid('invalid-protocol', `${where}.protocol ${JSON.stringify(protocol)} is not TCP, UDP or SCTP`);
    const number = port['port'];
    if (!isPortNumber(number)) invalid('invalid-port', `${where}.port ${JSON.stringify(number)} is not an integer in 1-65535`);
    const id = `${name}/${protocol}`;
    if (names.has(id)) invalid('duplicate-port-name', `${where} repeats port name ${JSON.stringify(name)} for ${protocol}`);
    names.add(id);
    return { name, protocol: protocol as Protocol, port: number };
  });
}

type EndpointProblem = { reason: string; message: string };

/** One endpoint; a bad one is skipped alone (with a warning), so its siblings still serve. */
function readEndpoint(raw: unknown, family: IPFamily, port: number, where: string): SliceEndpoint | EndpointProblem {
  if (!isRecord(raw)) return { reason: 'endpoint-not-object', message: `${where} is not an object` };
  const addresses = raw['addresses'];
  if (!Array.isArray(addresses) || addresses.length === 0) return { reason: 'missing-addresses', message: `${where}.addresses is missing or empty` };
  // Consumers use only the first address (the API documents the others as unused).
  const parsed = parseIP(addresses[0]);
  if (!parsed) return { reason: 'invalid-address', message: `${where}.addresses[0] ${JSON.stringify(addresses[0])} is not an IP address` };
  if (parsed.family !== family) return { reason: 'address-family-mismatch', message: `${where}.addresses[0] ${parsed.ip} is not IPv${family} as the slice's addressType says` };
  if (isForbiddenEndpointAddress(parsed)) return { reason: 'forbidden-address', message: `${where}.addresses[0] ${parsed.ip} is loopback, link-local, multicast or unspecified` };

  const conditions = raw['conditions'] ?? {};
  if (!isRecord(conditions)) return { reason: 'invalid-conditions', message: `${where}.conditions is not an object` };
  for (const key of ['ready', 'serving', 'terminating']) {
    const value = conditions[key];
    if (value !== undefined && value !== null && typeof value !== 'boolean') return { reason: 'invalid-condition', message: `${where}.conditions.${key} ${JSON.stringify(value)} is not a boolean` };
  }
  // The API's rules for unset conditions: ready and serving default to true, terminating to false.
  const ready = conditions['ready'] ?? true;
  const serving = conditions['serving'] ?? ready;
  const terminating = conditions['terminating'] ?? false;

  const nodeName = raw['nodeName'] ?? '';
  if (nodeName !== '' && !isDns1123Subdomain(nodeName)) return { reason: 'invalid-node-name', message: `${where}.nodeName ${JSON.stringify(nodeName)} is not a DNS-1123 subdomain` };
  const zone = raw['zone'] ?? '';
  if (zone !== '' && !isLabelValue(zone)) return { reason: 'invalid-zone', message: `${where}.zone ${JSON.stringify(zone)} is not a valid zone name` };
  const zoneHints = readHints(raw['hints']);
  if (typeof zoneHints === 'string') return { reason: 'invalid-hints', message: `${where}.hints ${zoneHints}` };

  return {
    ip: parsed.ip,
    family,
    port,
    ready: ready as boolean,
    serving: serving as boolean,
    terminating: terminating as boolean,
    nodeName: nodeName as string,
    zone: zone as string,
    zoneHints,
  };
}

/** Most endpoints carry no hints: they share one frozen empty list instead of 100k empty arrays. */
const NO_HINTS: readonly string[] = Object.freeze([]);

function readHints(hints: unknown): readonly string[] | string {
  if (hints === undefined || hints === null) return NO_HINTS;
  if (!isRecord(hints)) return 'is not an object';
  const forZones = hints['forZones'] ?? [];
  if (!Array.isArray(forZones)) return 'forZones is not a list';
  const zones: string[] = [];
  for (const entry of forZones) {
    if (!isRecord(entry) || !isLabelValue(entry['name']) || entry['name'] === '') return 'forZones has an entry without a valid name';
    zones.push(entry['name']);
  }
  return zones.length > 0 ? zones : NO_HINTS;
}

function readTriggerTime(record: Record<string, unknown>): number | undefined {
  const meta = record['metadata'] as Record<string, unknown>;
  const annotations = meta['annotations'];
  if (!isRecord(annotations)) return undefined;
  const value = annotations[LAST_CHANGE_TRIGGER_TIME_ANNOTATION];
  const time = typeof value === 'string' ? Date.parse(value) : Number.NaN;
  return Number.isFinite(time) ? time : undefined;
}
