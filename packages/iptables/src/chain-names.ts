import { hash } from 'node:crypto';
import { joinHostPort, type Endpoint, type ServicePort } from '@hybrid-proxy/model';
import { base32 } from './base32.js';

/** Chains hybrid-proxy owns outright; per-service chains are recognised by prefix. */
export const KUBE_SERVICES = 'KUBE-SERVICES';
export const KUBE_NODEPORTS = 'KUBE-NODEPORTS';
export const KUBE_POSTROUTING = 'KUBE-POSTROUTING';
export const KUBE_MARK_MASQ = 'KUBE-MARK-MASQ';
export const KUBE_FORWARD = 'KUBE-FORWARD';
/** filter: external traffic to Services that have no endpoint to serve it (REJECT, or DROP under a Local policy). */
export const KUBE_EXTERNAL_SERVICES = 'KUBE-EXTERNAL-SERVICES';
/** filter: traffic to a load-balancer IP that its KUBE-FW chain did not let through (loadBalancerSourceRanges). */
export const KUBE_PROXY_FIREWALL = 'KUBE-PROXY-FIREWALL';
/**
 * filter: kube-proxy's "block incoming localnet connections" rule, which route_localnet (localhost node ports)
 * needs. kube-proxy writes it into KUBE-FIREWALL, which kubelet owns too; a chain of our own leaves kubelet's alone.
 */
export const KUBE_LOCALNET_FIREWALL = 'KUBE-LOCALNET-FIREWALL';

export const SERVICE_CHAIN_PREFIX = 'KUBE-SVC-';
export const ENDPOINT_CHAIN_PREFIX = 'KUBE-SEP-';
/** Chains that come and go with Services: per-service chains, and the dispatch tree's (KUBE-DISPATCH...). */
export const PER_SERVICE_PREFIXES: readonly string[] = [SERVICE_CHAIN_PREFIX, ENDPOINT_CHAIN_PREFIX, 'KUBE-EXT-', 'KUBE-SVL-', 'KUBE-FW-', 'KUBE-DISPATCH', 'KUBE-NODEPORTS-'];

/** kube-proxy's hash: the first 16 characters of base32(sha256(text)), so operators recognise the chains. */
export function chainHash(text: string): string {
  // 16 base32 characters are 80 bits: the first 10 bytes of the digest. One-shot hash() as a binary (latin1) string: a
  // sixth of createHash's cost.
  return base32(hash('sha256', text, 'binary'), 10);
}

/** KUBE-SVC-<hash of "ns/name:port" + protocol in lower case>, exactly kube-proxy's servicePortChainName. */
export function serviceChainName(service: ServicePort): string {
  return SERVICE_CHAIN_PREFIX + chainHash(service.key + service.protocol.toLowerCase());
}

/** The chains of one Service port, as kube-proxy names them: one hash, four prefixes. */
export interface ServicePortChains {
  /** KUBE-SVC: the endpoints of the Cluster policy. */
  readonly cluster: string;
  /** KUBE-SVL: this node's endpoints, for a Local policy. */
  readonly local: string;
  /** KUBE-EXT: where traffic to a node port, external IP or load-balancer IP enters. */
  readonly external: string;
  /** KUBE-FW: the loadBalancerSourceRanges of its load-balancer IPs. */
  readonly firewall: string;
}

export function servicePortChains(service: ServicePort): ServicePortChains {
  const hash = chainHash(service.key + service.protocol.toLowerCase());
  return { cluster: SERVICE_CHAIN_PREFIX + hash, local: 'KUBE-SVL-' + hash, external: 'KUBE-EXT-' + hash, firewall: 'KUBE-FW-' + hash };
}

/** KUBE-SEP-<hash of the service port name, protocol and "ip:port">, kube-proxy's servicePortEndpointChainName. */
export function endpointChainName(service: ServicePort, endpoint: Endpoint): string {
  return ENDPOINT_CHAIN_PREFIX + chainHash(service.key + service.protocol.toLowerCase() + joinHostPort(endpoint.ip, endpoint.port));
}

/** Marks the stand-in of a chain while a serve-first sync rewrites it (see serveFirstChanges). */
export const SHADOW_SUFFIX = '~';

/** The stand-in that serves for `chain` between a serve-first sync's two commits (at most 26 + 1 characters of 28). */
export function shadowChainName(chain: string): string {
  return chain + SHADOW_SUFFIX;
}

/** Chains that come and go with Services, and stand-ins left by an interrupted serve-first sync: a full sync removes them. */
export function isPerServiceChain(name: string): boolean {
  return PER_SERVICE_PREFIXES.some((prefix) => name.startsWith(prefix)) || (name.startsWith('KUBE-') && name.endsWith(SHADOW_SUFFIX));
}
