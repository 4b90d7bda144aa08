/** Pearson's chi-square statistic of observed counts against a uniform spread. */
export function chiSquareUniform(counts: readonly number[]): number {
  const total = counts.reduce((a, b) => a + b, 0);
  const expected = total / counts.length;
  return counts.reduce((sum, observed) => sum + (observed - expected) ** 2 / expected, 0);
}

/**
 * Critical values at p = 0.0001 by degrees of freedom: a correct uniform spread fails about once in 10,000 runs,
 * while a real bias (one backend at half its share over these sample sizes) fails every time.
 */
export const CHI_SQUARE_CRITICAL_P0001: Readonly<Record<number, number>> = { 1: 15.14, 2: 18.42, 3: 21.11, 4: 23.51 };
