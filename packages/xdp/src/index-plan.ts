import { MISS_SLOT } from './map-layout.js';

export interface IndexPlan {
  /** Every key's slot after the change. */
  readonly slots: ReadonlyMap<string, number>;
  readonly remove: readonly string[];
  /** New keys and their slots; each slot's counters are zeroed before the key points at it. */
  readonly add: readonly (readonly [string, number])[];
  /** Keys that found no free slot: their traffic counts as a miss until room is made. */
  readonly overflow: readonly string[];
}

/**
 * Pure: moves an index from `current` (as read from the kernel) to `desired`. Keys that stay keep their slots, so
 * their counters run on across syncs and proxy restarts; freed slots are reused lowest first.
 */
export function planIndex(current: ReadonlyMap<string, number>, desired: Iterable<string>, capacity: number): IndexPlan {
  const wanted = new Set(desired);
  const slots = new Map<string, number>();
  const remove: string[] = [];
  for (const [key, slot] of current) {
    if (wanted.has(key) && slot !== MISS_SLOT && slot <= capacity && !slots.has(key)) slots.set(key, slot);
    else remove.push(key);
  }
  const used = new Set(slots.values());
  const add: [string, number][] = [];
  const overflow: string[] = [];
  let next = 1;
  for (const key of wanted) {
    if (slots.has(key)) continue;
    while (used.has(next)) next++;
    if (next > capacity) {
      overflow.push(key);
      continue;
    }
    used.add(next);
    slots.set(key, next);
    add.push([key, next]);
  }
  return { slots, remove, add, overflow };
}
