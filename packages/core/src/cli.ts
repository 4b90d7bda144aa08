#!/usr/bin/env node
import { existsSync, readFileSync } from 'node:fs';
import { createRunner } from '@hybrid-proxy/exec';
import { DUMMY_INTERFACE } from '@hybrid-proxy/ipvs';
import { XdpCounters } from '@hybrid-proxy/xdp';
import { UsageError } from './flag-values.js';
import { createLogger } from './logger.js';
import { createBackend } from './mode-selection.js';
import { localAddresses } from './node-port-addresses.js';
import { cleanupKubeProxyLeftovers } from './kube-proxy-cleanup.js';
import { hasNetAdmin, PrivilegeError } from './privileges.js';
import { logIgnoredFields, parseFlags, PROXY_FLAGS, proxyConfigFrom } from './proxy-config.js';
import { createSource, readOnce } from './source-selection.js';
import { runUntilSignalled } from './run-proxy.js';

const USAGE = `hybrid-proxy: a Kubernetes service proxy (iptables and IPVS modes, eBPF traffic counters)

Usage:
  hybrid-proxy run [--kubeconfig PATH | --manifests DIR] [flags]
                                               program the kernel and keep it in step with the cluster
  hybrid-proxy plan [--kubeconfig PATH | --manifests DIR] [flags]
                                               print the rules it would apply; touches nothing
  hybrid-proxy cleanup [flags]                 remove every chain and jump hybrid-proxy created
                                               (--kube-proxy-leftovers: kube-proxy's chains, sets and nft tables too)
  hybrid-proxy lab [--duration S] [--json]     a sandboxed node in network namespaces, with live traffic
                                               (from a checkout of the repository, not the npm package)
  hybrid-proxy help | version

Flags (run, plan, cleanup); kube-proxy's flag names are taken with kube-proxy's meaning, and flags override --config:
  --config FILE                    kube-proxy's KubeProxyConfiguration (the kube-proxy ConfigMap's config.conf)
  --mode, --proxy-mode MODE        iptables (default) or ipvs
  --kubeconfig PATH                the API server to follow (default: $KUBECONFIG, ~/.kube/config, in-cluster)
  --manifests DIR                  instead of the API: Service and EndpointSlice YAML/JSON, watched for changes
  --cluster-cidr CIDR[,CIDR]       the Pod range, one per family: traffic to ClusterIPs from outside it is masqueraded
  --detect-local-mode M            ClusterCIDR (default), NodeCIDR (the Node's spec.podCIDRs), BridgeInterface
                                   (--pod-bridge-interface) or InterfaceNamePrefix (--pod-interface-name-prefix)
  --nodeport-addresses A[,A]       CIDRs or primary, localhost, all: the node IPs NodePorts answer on
  --masquerade-all                 masquerade all traffic to ClusterIPs
  --service-cidr CIDR[,CIDR]       Service IP ranges: new connections to unused addresses or ports in them are rejected
  --iptables-masquerade-bit N      fwmark bit for masquerading (default 14, i.e. 0x4000)
  --hostname-override NAME         this node's name (default: $NODE_NAME, else the hostname)
  --ip-families 4,6                families to program (default 4,6)
  --iptables-variant auto|nft|legacy   default auto: the variant that already holds KUBE- rules
  --dispatch tree|linear           iptables mode: a gate set and a 16x16 goto tree (default), or kube-proxy's
                                   one KUBE-SERVICES rule per Service port
  --endpoint-chains inline|per-endpoint   DNAT rules in the service chain with a hairpin set (default with
                                   tree), or kube-proxy's KUBE-SEP chain per endpoint (default with linear)
  --large-cluster-endpoints-threshold N   rules drop their comments above N endpoints (default 1000)
  --min-sync-period D              coalesce bursts of changes (default 1s; or --iptables-/--ipvs-min-sync-period)
  --sync-period D                  periodic resync and drift check (default 30s; or --iptables-/--ipvs-sync-period)
  --full-sync-period D             periodic full rewrite (default 1h)
  --healthz-bind-address H:P       /healthz and /livez (default 0.0.0.0:10256)
  --metrics-bind-address H:P       /metrics (default 127.0.0.1:10249)
  --log-level L                    debug, info (default), warn, error (or kube-proxy's -v N: 4 and above is debug)
  --conntrack-*                    kube-proxy's conntrack settings (max-per-core, min, tcp-timeout-established,
                                   tcp-timeout-close-wait, tcp-be-liberal, udp-timeout, udp-timeout-stream)
  --ipvs-scheduler S               ipvs mode: rr (default), wrr, lc, wlc, lblc, lblcr, dh, sh, sed, nq, mh
  --ipvs-strict-arp                ipvs mode: arp_ignore=1, arp_announce=2 (needed with some load balancers)
  --ipvs-exclude-cidrs CIDR[,CIDR] ipvs mode: never touch virtual servers on these addresses
  --ipvs-tcp-timeout D, --ipvs-tcpfin-timeout D, --ipvs-udp-timeout D   ipvs mode: connection timeouts
  --xdp-interfaces IF[,IF]         attach the eBPF traffic counters to these interfaces (ingress)
  --xdp-mode M                     auto (tc on veth, native XDP elsewhere; falls back), native, generic or tc
  --bpffs PATH                     bpffs for the pinned programs and maps (default /run/hybrid-proxy/bpffs)
`;

async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'run':
      await runUntilSignalled(proxyConfigFrom(parseFlags(rest, PROXY_FLAGS)));
      return 0;
    case 'plan': {
      const config = proxyConfigFrom(parseFlags(rest, PROXY_FLAGS));
      const logger = createLogger({ level: config.logLevel, write: (line) => process.stderr.write(line + '\n') });
      logIgnoredFields(config, logger);
      const snapshot = await readOnce(createSource(config, logger, { watch: false }));
      for (const item of snapshot.invalid) logger.warn('skipped invalid object', { kind: item.kind, object: item.ref, reason: item.reason, detail: item.message });
      // The node's addresses, read only: where node ports would be served.
      const local = await localAddresses(createRunner(), DUMMY_INTERFACE).catch(() => []);
      process.stdout.write(createBackend(config, createRunner(), logger).describe(snapshot, local));
      return 0;
    }
    case 'cleanup': {
      const config = proxyConfigFrom(parseFlags(rest, PROXY_FLAGS));
      if (!hasNetAdmin()) throw new PrivilegeError('hybrid-proxy cleanup');
      const logger = createLogger({ level: config.logLevel });
      await createBackend(config, createRunner(), logger).cleanup();
      if (config.kubeProxyLeftovers) await cleanupKubeProxyLeftovers(createRunner(), config.families, logger);
      if (config.xdpInterfaces.length > 0) await new XdpCounters({ runner: createRunner(), bpffs: config.bpffs, interfaces: config.xdpInterfaces }).cleanup();
      return 0;
    }
    case 'lab': {
      // The lab lives in the repository (e2e/lab), not in the published package.
      const labModule = '@hybrid-proxy/lab';
      const lab = (await import(labModule).catch(() => undefined)) as { runLabCli(args: readonly string[]): Promise<number> } | undefined;
      if (!lab) {
        process.stderr.write('hybrid-proxy: the lab ships with the hybrid-proxy repository, not with this package: run it from a checkout with `npm start`\n');
        return 2;
      }
      return lab.runLabCli(rest);
    }
    case 'version':
    case '--version':
      process.stdout.write(`hybrid-proxy ${packageVersion()}\n`);
      return 0;
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return 0;
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  }
}

/** @hybrid-proxy/core's version, from the nearest package.json above this module (dist/ or dist/bundle/). */
function packageVersion(): string {
  for (const up of ['../package.json', '../../package.json']) {
    const file = new URL(up, import.meta.url);
    if (!existsSync(file)) continue;
    const manifest = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version: string };
    if (manifest.name === '@hybrid-proxy/core') return manifest.version;
  }
  throw new Error('@hybrid-proxy/core: its package.json is not where the package keeps it');
}

/**
 * Errors are told apart by name, not by class: `hybrid-proxy lab` loads the checkout's packages beside the copies
 * bundled into this executable, so a UsageError the lab throws is another class with the same name.
 */
const errorName = (err: unknown): string | undefined => (err instanceof Error ? err.name : undefined);
const EXPLAINED_ERRORS: ReadonlySet<string | undefined> = new Set(['ToolMissingError', 'PrivilegeError', 'IpvsUnavailableError']);

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (errorName(err) === 'UsageError') {
      process.stderr.write(`hybrid-proxy: ${(err as Error).message}\nRun 'hybrid-proxy help' for usage.\n`);
      process.exit(2);
    }
    const explained = EXPLAINED_ERRORS.has(errorName(err));
    process.stderr.write(`hybrid-proxy: ${explained ? (err as Error).message : err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exit(1);
  },
);
