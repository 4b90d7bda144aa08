import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';

export interface KubeConfigSource {
  readonly config: KubeConfig;
  /** Where it came from, for the log. */
  readonly origin: string;
}

/**
 * kube-proxy's order: --kubeconfig, then $KUBECONFIG, then ~/.kube/config, then the in-cluster service account.
 * Unlike client-node's loadFromDefault, finding none is an error, not a silent http://localhost:8080.
 */
export function loadKubeConfig(kubeconfig?: string, env: NodeJS.ProcessEnv = process.env): KubeConfigSource {
  const config = new KubeConfig();
  if (kubeconfig) {
    if (!existsSync(kubeconfig)) throw new Error(`--kubeconfig ${kubeconfig}: no such file`);
    config.loadFromFile(kubeconfig);
    return checked({ config, origin: kubeconfig });
  }
  if (env['KUBECONFIG']) {
    config.loadFromDefault();
    return checked({ config, origin: `$KUBECONFIG (${env['KUBECONFIG']})` });
  }
  const home = join(env['HOME'] ?? homedir(), '.kube', 'config');
  if (existsSync(home)) {
    config.loadFromFile(home);
    return checked({ config, origin: home });
  }
  if (env['KUBERNETES_SERVICE_HOST'] && env['KUBERNETES_SERVICE_PORT']) {
    config.loadFromCluster();
    return checked({ config, origin: 'in-cluster service account' });
  }
  throw new Error('no Kubernetes API configuration: pass --kubeconfig PATH, set KUBECONFIG, create ~/.kube/config, or run in a Pod with a service account');
}

function checked(source: KubeConfigSource): KubeConfigSource {
  if (!source.config.getCurrentCluster()) throw new Error(`${source.origin}: the kubeconfig has no current cluster (set current-context)`);
  return source;
}
