import { describe, expect, it } from 'vitest';
import { CHI_SQUARE_CRITICAL_P0001, chiSquareUniform } from './statistics.js';

describe('chi-square uniformity check', () => {
  it('accepts an even spread and rejects a biased one at the sample sizes the kernel tests use', () => {
    expect(chiSquareUniform([300, 300, 300])).toBe(0);
    expect(chiSquareUniform([310, 295, 295])).toBeLessThan(CHI_SQUARE_CRITICAL_P0001[2]!);
    // One backend at half its share: what a wrong probability (e.g. 1/n on every rule) looks like.
    expect(chiSquareUniform([150, 375, 375])).toBeGreaterThan(CHI_SQUARE_CRITICAL_P0001[2]!);
    expect(chiSquareUniform([450, 450, 0])).toBeGreaterThan(CHI_SQUARE_CRITICAL_P0001[2]!);
  });
});
