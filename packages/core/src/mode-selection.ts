import type { CommandRunner } from '@hybrid-proxy/exec';
import type { ProxyBackend } from './backend.js';
import { IptablesMode } from './iptables-mode.js';
import { IpvsMode } from './ipvs-mode.js';
import type { Logger } from './logger.js';
import type { ProxyMetrics } from './metrics.js';
import type { ProxyConfig } from './proxy-config.js';

/** The one place that knows every mode: picks the backend the config names. */
export function createBackend(config: ProxyConfig, runner: CommandRunner, logger: Logger, metrics?: ProxyMetrics): ProxyBackend {
  switch (config.mode) {
    case 'iptables':
      return new IptablesMode({
        runner,
        logger,
        metrics,
        families: config.families,
        variant: config.iptablesVariant,
        nodePortAddresses: config.nodePortAddresses,
        bindAddress: config.bindAddress,
        planner: {
          localTraffic: config.localTraffic,
          masqueradeAll: config.masqueradeAll,
          masqueradeBit: config.masqueradeBit,
          serviceCIDRs: config.serviceCIDRs,
          comments: true,
          commentsEndpointThreshold: config.commentsEndpointThreshold,
          dispatch: config.dispatch,
          endpointChains: config.endpointChains,
          nodeName: config.hostname,
          zone: '',
          localhostNodePorts: config.localhostNodePorts,
          nodeIP: '',
        },
      });
    case 'ipvs':
      return new IpvsMode({
        runner,
        logger,
        metrics,
        families: config.families,
        iptablesVariant: config.iptablesVariant,
        strictARP: config.ipvsStrictARP,
        timeouts: config.ipvsTimeouts,
        excludeCIDRs: config.ipvsExcludeCIDRs,
        nodePortAddresses: config.nodePortAddresses,
        bindAddress: config.bindAddress,
        planner: { scheduler: config.ipvsScheduler, localTraffic: config.localTraffic, masqueradeAll: config.masqueradeAll, masqueradeBit: config.masqueradeBit, nodeName: config.hostname, zone: '' },
      });
  }
}
