import { describe, expect, it } from 'vitest';
import { OverlayMap } from '@hybrid-proxy/model';

describe('OverlayMap', () => {
  it('after any run of patches, holds what a Map told the same changes holds, and names every key that differs', () => {
    let state = 7;
    const random = (n: number) => {
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      return (state >>> 0) % n;
    };
    const reference = new Map(Array.from({ length: 600 }, (_, i) => [`k${i}`, i] as const));
    let map = OverlayMap.over(new Map(reference));
    let folded = 0;
    for (let round = 0; round < 300; round++) {
      const before = map;
      const updates = Array.from({ length: 1 + random(4) }, () => [`k${random(700)}`, random(3) === 0 ? undefined : random(1000)] as const);
      for (const [key, value] of updates) {
        if (value === undefined) reference.delete(key);
        else reference.set(key, value);
      }
      map = map.patch(updates);
      expect(map.size).toBe(reference.size);
      expect([...map].sort()).toEqual([...reference].sort());
      for (const key of ['k0', 'k650', updates[0]![0]]) {
        expect(map.get(key)).toBe(reference.get(key));
        expect(map.has(key)).toBe(reference.has(key));
      }
      const changed = OverlayMap.changedKeys(before, map);
      if (changed === undefined) {
        folded++;
        continue;
      }
      const named = new Set(changed);
      for (const key of new Set([...before.keys(), ...map.keys()])) if (before.get(key) !== map.get(key)) expect(named.has(key)).toBe(true);
    }
    // The delta is folded into a new base now and then (and only then do the maps stop sharing a base).
    expect(folded).toBeGreaterThan(0);
    expect(folded).toBeLessThan(30);
  });

  it('keeps the base order, changed values in place, and appends new keys', () => {
    const map = OverlayMap.over(new Map([['a', 1], ['b', 2], ['c', 3]])).patch([['b', 20], ['d', 4], ['a', undefined]]);
    expect([...map]).toEqual([['b', 20], ['c', 3], ['d', 4]]);
    expect([...map.keys()]).toEqual(['b', 'c', 'd']);
    expect([...map.values()]).toEqual([20, 3, 4]);
  });

  it('tells maps of different bases apart as unknown, and a plain map from its own patches', () => {
    const plain = new Map([['a', 1], ['b', 2]]);
    expect(OverlayMap.changedKeys(new Map([['a', 1]]), OverlayMap.over(new Map([['a', 1]])))).toBeUndefined();
    expect([...OverlayMap.changedKeys(plain, OverlayMap.over(plain).patch([['b', 3]]))!]).toEqual(['b']);
    expect([...OverlayMap.changedKeys(plain, plain)!]).toEqual([]);
  });
});
