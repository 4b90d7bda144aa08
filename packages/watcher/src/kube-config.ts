import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { KubeConfig, type Cluster } from '@kubernetes/client-node';

export interface KubeConfigSource {
  readonly config: KubeConfig;
  /** Where it came from, for the log. */
  readonly origin: string;
  /** What is worth a warning but still works (plain http with credentials). */
  readonly warnings: readonly string[];
}

/**
 * kube-proxy's order: --kubeconfig, then $KUBECONFIG, then ~/.kube/config, then the in-cluster service account.
 * Unlike client-node's loadFromDefault, finding none is an error, not a silent http://localhost:8080, and so is a
 * kubeconfig that no retry can make work (a missing file, an unknown context, a certificate file that is not there).
 */
export function loadKubeConfig(kubeconfig?: string, env: NodeJS.ProcessEnv = process.env): KubeConfigSource {
  if (kubeconfig) {
    if (!existsSync(kubeconfig)) throw new Error(`--kubeconfig ${kubeconfig}: no such file`);
    return checked(fromFiles([kubeconfig]), kubeconfig);
  }
  if (env['KUBECONFIG']) {
    const named = env['KUBECONFIG'].split(delimiter).filter(Boolean);
    const present = named.filter((file) => existsSync(file));
    // As kubectl: files named in $KUBECONFIG that do not exist are skipped, but not all of them.
    if (present.length === 0) throw new Error(`$KUBECONFIG (${env['KUBECONFIG']}): no such file`);
    return checked(fromFiles(present), `$KUBECONFIG (${present.join(delimiter)})`);
  }
  const home = join(env['HOME'] ?? homedir(), '.kube', 'config');
  if (existsSync(home)) return checked(fromFiles([home]), home);
  if (env['KUBERNETES_SERVICE_HOST'] && env['KUBERNETES_SERVICE_PORT']) {
    const config = new KubeConfig();
    config.loadFromCluster();
    return checked(config, 'in-cluster service account');
  }
  throw new Error('no Kubernetes API configuration: pass --kubeconfig PATH, set KUBECONFIG, create ~/.kube/config, or run in a Pod with a service account');
}

/** Merged as kubectl merges: for each cluster, user, context and the current-context, the first file to set it wins. */
function fromFiles(files: readonly string[]): KubeConfig {
  const loaded = files.map((file) => {
    const one = new KubeConfig();
    try {
      one.loadFromFile(file);
    } catch (err) {
      throw new Error(`${file}: not a kubeconfig (${(err as Error).message.split('\n')[0]})`);
    }
    return one;
  });
  const firstByName = <T extends { readonly name: string }>(lists: readonly (readonly T[])[]): T[] => {
    const byName = new Map<string, T>();
    for (const item of lists.flat()) if (!byName.has(item.name)) byName.set(item.name, item);
    return [...byName.values()];
  };
  const config = new KubeConfig();
  config.loadFromOptions({
    clusters: firstByName(loaded.map((one) => one.clusters)),
    users: firstByName(loaded.map((one) => one.users)),
    contexts: firstByName(loaded.map((one) => one.contexts)),
    currentContext: loaded.map((one) => one.currentContext).find(Boolean) ?? '',
  });
  return config;
}

function checked(config: KubeConfig, origin: string): KubeConfigSource {
  const contextName = config.getCurrentContext();
  if (!contextName) throw new Error(`${origin}: the kubeconfig names no current-context`);
  const context = config.getContextObject(contextName);
  if (!context) throw new Error(`${origin}: current-context ${JSON.stringify(contextName)} is not among its contexts (${config.contexts.map((c) => c.name).join(', ') || 'none'})`);
  const cluster = config.getCluster(context.cluster);
  if (!cluster) throw new Error(`${origin}: context ${JSON.stringify(contextName)} names cluster ${JSON.stringify(context.cluster)}, which the kubeconfig does not define`);
  if (!/^https?:\/\//.test(cluster.server)) throw new Error(`${origin}: cluster ${JSON.stringify(cluster.name)} has server ${JSON.stringify(cluster.server)}, not an http:// or https:// URL`);
  const user = context.user ? config.getUser(context.user) : null;
  for (const [what, file] of [['certificate-authority', cluster.caFile], ['client-certificate', user?.certFile], ['client-key', user?.keyFile]] as const) {
    if (file && !existsSync(file)) throw new Error(`${origin}: ${what} ${file}: no such file`);
  }
  const warnings: string[] = [];
  if (cluster.server.startsWith('http://')) {
    if (user?.token || user?.password || user?.certFile || user?.certData) warnings.push(`the API server ${cluster.server} is plain http: the credentials of user ${JSON.stringify(user.name)} travel unencrypted`);
    acceptPlainHttp(config, cluster);
  }
  return { config, origin, warnings };
}

/**
 * kube-proxy (client-go) talks plain http to an http:// server, as `kubectl proxy` offers one. client-node refuses
 * that unless insecure-skip-tls-verify is set, and a request-time refusal would be retried forever; with no TLS on
 * the wire there is nothing to verify, so the flag is set for that one cluster.
 */
function acceptPlainHttp(config: KubeConfig, cluster: Cluster): void {
  const clusters = config.clusters.map((c) => (c.name === cluster.name ? { ...c, skipTLSVerify: true } : c));
  config.loadFromOptions({ clusters, users: config.users, contexts: config.contexts, currentContext: config.currentContext });
}
