import { OverlayMap, type ServicePort, type ServicePortKey, type ServiceEntry, type Snapshot } from '@hybrid-proxy/model';
import type { Logger } from './logger.js';
import type { ProxyMetrics } from './metrics.js';

/** Service fields for external traffic that the IPVS mode does not program yet. */
export type UnprogrammedField = 'nodePort' | 'externalIPs' | 'loadBalancerIngress' | 'loadBalancerSourceRanges';

/** What of this Service port's external traffic the rules leave out. Pure. */
export function unprogrammedFields(service: ServicePort): UnprogrammedField[] {
  const fields: UnprogrammedField[] = [];
  if (service.nodePort !== 0) fields.push('nodePort');
  if (service.externalIPs.length > 0) fields.push('externalIPs');
  if (service.loadBalancerIPs.length > 0) fields.push('loadBalancerIngress');
  if (service.loadBalancerSourceRanges.length > 0) fields.push('loadBalancerSourceRanges');
  return fields;
}

/**
 * Nothing is dropped silently: each Service field the rules leave out is logged once per Service and counted in
 * hybrid_proxy_unprogrammed_service_fields_total{field}. Only the Service ports a snapshot changed are looked
 * at, so a change costs what it touches.
 */
export class UnprogrammedFieldReporter {
  private last: ReadonlyMap<ServicePortKey, ServiceEntry> = new Map();
  /** `namespace/name|field` already reported. */
  private readonly reported = new Set<string>();

  constructor(
    private readonly logger: Logger,
    private readonly metrics: ProxyMetrics,
  ) {}

  report(snapshot: Snapshot): void {
    const changed = OverlayMap.changedKeys(this.last, snapshot.entries) ?? snapshot.entries.keys();
    this.last = snapshot.entries;
    for (const key of changed) {
      const service = snapshot.entries.get(key)?.service;
      if (!service) continue;
      for (const field of unprogrammedFields(service)) {
        const id = `${service.namespace}/${service.name}|${field}`;
        if (this.reported.has(id)) continue;
        this.reported.add(id);
        this.metrics.unprogrammedFields.inc({ field });
        this.logger.warn('Service field not programmed: the IPVS mode does not handle external traffic yet (the iptables mode does)', { service: `${service.namespace}/${service.name}`, field, value: valueOf(service, field) });
      }
    }
  }
}

function valueOf(service: ServicePort, field: UnprogrammedField): unknown {
  switch (field) {
    case 'nodePort':
      return service.nodePort;
    case 'externalIPs':
      return service.externalIPs;
    case 'loadBalancerIngress':
      return service.loadBalancerIPs;
    case 'loadBalancerSourceRanges':
      return service.loadBalancerSourceRanges;
  }
}
