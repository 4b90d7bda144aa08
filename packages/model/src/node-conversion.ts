import type { V1Node } from '@kubernetes/client-node';
import { parseIP } from './ip-address.js';
import { isRecord, labelOf } from './object-checks.js';
import type { NodeInfo } from './types.js';

export const ZONE_LABEL = 'topology.kubernetes.io/zone';

/** This node's zone and addresses; malformed parts are left out rather than failing the node. */
export function convertNode(obj: V1Node | unknown): NodeInfo | undefined {
  if (!isRecord(obj) || !isRecord(obj['metadata']) || typeof obj['metadata']['name'] !== 'string') return undefined;
  const zone = labelOf(obj, ZONE_LABEL);
  const status = obj['status'];
  const rawAddresses = isRecord(status) && Array.isArray(status['addresses']) ? status['addresses'] : [];
  const addresses = rawAddresses
    .filter((a): a is Record<string, unknown> => isRecord(a) && (a['type'] === 'InternalIP' || a['type'] === 'ExternalIP'))
    .map((a) => parseIP(a['address'])?.ip)
    .filter((ip): ip is string => ip !== undefined);
  return { name: obj['metadata']['name'], zone: typeof zone === 'string' ? zone : '', addresses };
}
