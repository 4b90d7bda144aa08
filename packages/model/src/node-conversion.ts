import { parseCIDR } from './cidr.js';
import { parseIP } from './ip-address.js';
import { isRecord, labelOf } from './object-checks.js';
import type { NodeInfo } from './types.js';

export const ZONE_LABEL = 'topology.kubernetes.io/zone';
/** The cluster autoscaler's mark on a node it is about to remove. */
export const TO_BE_DELETED_TAINT = 'ToBeDeletedByClusterAutoscaler';

/**
 * This node's zone, addresses and Pod ranges; malformed parts are left out rather than failing the node. `obj` is a
 * v1 Node as the API server sends it (client-node's V1Node, or parsed YAML): the model depends on no Kubernetes client.
 */
export function convertNode(obj: unknown): NodeInfo | undefined {
  if (!isRecord(obj) || !isRecord(obj['metadata']) || typeof obj['metadata']['name'] !== 'string') return undefined;
  const zone = labelOf(obj, ZONE_LABEL);
  const status = obj['status'];
  const spec = isRecord(obj['spec']) ? obj['spec'] : {};
  const addresses = arrayOf(isRecord(status) ? status['addresses'] : undefined)
    .filter((a): a is Record<string, unknown> => isRecord(a) && (a['type'] === 'InternalIP' || a['type'] === 'ExternalIP'))
    .map((a) => parseIP(a['address'])?.ip)
    .filter((ip): ip is string => ip !== undefined);
  const rawPodCIDRs = arrayOf(spec['podCIDRs']).length > 0 ? arrayOf(spec['podCIDRs']) : [spec['podCIDR']];
  const podCIDRs = rawPodCIDRs.map((c) => parseCIDR(c)?.cidr).filter((c): c is string => c !== undefined);
  const tainted = arrayOf(spec['taints']).some((t) => isRecord(t) && t['key'] === TO_BE_DELETED_TAINT);
  const deleting = obj['metadata']['deletionTimestamp'] !== undefined && obj['metadata']['deletionTimestamp'] !== null;
  return { name: obj['metadata']['name'], zone: typeof zone === 'string' ? zone : '', addresses, podCIDRs, goingAway: tainted || deleting };
}

const arrayOf = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);
