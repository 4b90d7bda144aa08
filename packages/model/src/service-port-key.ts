import type { ServicePortKey } from './types.js';

/** kube-proxy's ServicePortName string: `ns/name:port`, or `ns/name` for an unnamed port. */
export function servicePortKey(namespace: string, name: string, portName: string): ServicePortKey {
  return portName ? `${namespace}/${name}:${portName}` : `${namespace}/${name}`;
}
