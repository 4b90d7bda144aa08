/**
 * The lab's addresses: only the benchmarking range 198.18.0.0/15 and fd00::/8, only inside its own namespaces.
 * Nodes and Pods in 198.18.0.0/16, Service VIPs in 198.19.0.0/16.
 */
export const LAB_ADDRESSES = {
  clientIPv4: '198.18.0.2',
  nodeIPv4: '198.18.0.1',
  clientIPv6: 'fd00:18::2',
  nodeIPv6: 'fd00:18::1',
  /** The node's address on every Pod link (as CNIs such as Calico do with a link-local gateway). */
  podGatewayIPv4: '198.18.1.1',
  podGatewayIPv6: 'fd00:18:1::1',
  podCIDRv4: '198.18.1.0/24',
  serviceCIDRv4: '198.19.0.0/16',
  /** External and load-balancer IPs: the client, as the node's upstream router, routes them to the node. */
  externalCIDRv4: '198.18.64.0/18',
  serviceCIDRv6: 'fd00:19::/64',
} as const;

const LAB_RANGES = [/^198\.1[89]\./, /^fd[0-9a-f]{2}:/i];

/** Guards every address the lab configures or sends to. */
export function assertLabAddress(ip: string): void {
  if (!LAB_RANGES.some((range) => range.test(ip))) {
    throw new Error(`${ip} is outside the lab's ranges (198.18.0.0/15, fd00::/8); the lab never sends traffic anywhere else`);
  }
}
