import { readFileSync } from 'node:fs';

const CAP_NET_ADMIN = 12;

/**
 * True when this process may change netfilter rules: CAP_NET_ADMIN in its effective set. The capability decides,
 * not the uid: root in a container without NET_ADMIN cannot program the kernel either. Without /proc, root is
 * taken at its word.
 */
export function hasNetAdmin(): boolean {
  try {
    const status = readFileSync('/proc/self/status', 'utf8');
    const hex = /^CapEff:\s*([0-9a-f]+)$/m.exec(status)?.[1];
    if (hex !== undefined) return ((BigInt(`0x${hex}`) >> BigInt(CAP_NET_ADMIN)) & 1n) === 1n;
  } catch {
    // no /proc: fall through
  }
  return process.getuid?.() === 0;
}

export class PrivilegeError extends Error {
  constructor(action: string) {
    super(`${action} needs root or CAP_NET_ADMIN: run it with sudo, or as a privileged DaemonSet (securityContext.privileged: true).`);
    this.name = 'PrivilegeError';
  }
}
