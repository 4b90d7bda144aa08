import { forEachSaved, type SavedService } from './ipvsadm-text.js';
import type { RealServer, VirtualServer } from './ipvs-plan.js';

/**
 * An order-free digest of virtual and real servers: how many, and two sums of 32-bit FNV-1a hashes of each one's
 * fields. lostState compares the kernel's with the ledger's once per sync period without building 110k objects
 * (at 10k Services × 10) that would outlive a scavenge and grow the old generation, and so the process's memory.
 */
export class StateDigest {
  private count = 0;
  private low = 0;
  private high = 0;

  add(vs: SavedService, real?: RealServer): void {
    const key = real ? `${vs.protocol} ${vs.address} ${vs.port} > ${real.address} ${real.port} ${real.weight}` : `${vs.protocol} ${vs.address} ${vs.port} ${vs.scheduler} ${vs.persistence}`;
    this.count++;
    this.low = (this.low + fnv1a(key, 0x811c9dc5)) >>> 0;
    this.high = (this.high + fnv1a(key, 0x050c5d1f)) >>> 0;
  }

  equals(other: StateDigest): boolean {
    return this.count === other.count && this.low === other.low && this.high === other.high;
  }
}

/** The digest of `ipvsadm-save -n` output, of the virtual servers `owns` accepts (and their reals). */
export function savedDigest(text: string, owns: (vs: SavedService) => boolean): StateDigest {
  const digest = new StateDigest();
  forEachSaved(text, (vs, real) => {
    if (owns(vs)) digest.add(vs, real);
  });
  return digest;
}

export function serversDigest(servers: Iterable<VirtualServer>): StateDigest {
  const digest = new StateDigest();
  for (const vs of servers) {
    digest.add(vs);
    for (const real of vs.reals) digest.add(vs, real);
  }
  return digest;
}

function fnv1a(text: string, seed: number): number {
  let hash = seed;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}
