import type { SnapshotSource, WatchHooks } from '@hybrid-proxy/model';
import { KubernetesApiSource, loadKubeConfig, ManifestDirectorySource } from '@hybrid-proxy/watcher';
import { UsageError } from './flag-values.js';
import type { Logger } from './logger.js';
import type { ProxyConfig } from './proxy-config.js';

/** `--manifests DIR` reads a directory; otherwise the API server (--kubeconfig, $KUBECONFIG, ~/.kube/config, in-cluster). */
export function createSource(config: ProxyConfig, logger: Logger, options: { watch?: boolean; hooks?: WatchHooks } = {}): SnapshotSource {
  if (config.manifests) return new ManifestDirectorySource({ dir: config.manifests, logger, watch: options.watch });
  let loaded: ReturnType<typeof loadKubeConfig>;
  try {
    loaded = loadKubeConfig(config.kubeconfig);
  } catch (err) {
    // Where to find the cluster is the user's to say: a usage error, with the ways to say it.
    throw new UsageError(`${(err as Error).message} (or --manifests DIR to proxy Services from files)`);
  }
  const { config: kubeConfig, origin } = loaded;
  for (const warning of loaded.warnings) logger.warn(warning, { kubeconfig: origin });
  logger.info('following the Kubernetes API', { kubeconfig: origin, server: kubeConfig.getCurrentCluster()?.server, node: config.hostname });
  return new KubernetesApiSource({ kubeConfig, nodeName: config.hostname, logger, hooks: options.hooks });
}

/** Reads one complete snapshot and stops (for `plan`). */
export async function readOnce(source: SnapshotSource): Promise<Parameters<Parameters<SnapshotSource['start']>[0]>[0]> {
  let first: Parameters<Parameters<SnapshotSource['start']>[0]>[0] | undefined;
  await source.start((snapshot) => (first ??= snapshot));
  await source.stop();
  return first!;
}
