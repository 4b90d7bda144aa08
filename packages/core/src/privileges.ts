import { readFileSync } from 'node:fs';

const CAP_NET_ADMIN = 12;

/** True when this process may change netfilter rules (root, or CAP_NET_ADMIN in its effective set). */
export function hasNetAdmin(): boolean {
  if (process.getuid?.() === 0) return true;
  try {
    const status = readFileSync('/proc/self/status', 'utf8');
    const hex = /^CapEff:\s*([0-9a-f]+)$/m.exec(status)?.[1];
    return hex !== undefined && ((BigInt(`0x${hex}`) >> BigInt(CAP_NET_ADMIN)) & 1n) === 1n;
  } catch {
    return false;
  }
}

export class PrivilegeError extends Error {
  constructor(action: string) {
    super(`${action} needs root or CAP_NET_ADMIN: run it with sudo, or as a privileged DaemonSet (securityContext.privileged: true).`);
    this.name = 'PrivilegeError';
  }
}
