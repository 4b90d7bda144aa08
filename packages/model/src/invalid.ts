import type { InvalidObject } from './types.js';

/** A conversion either yields a value or says why the object was skipped. */
export type Conversion<T> =
  | { readonly ok: true; readonly value: T; readonly warnings: readonly InvalidObject[] }
  | { readonly ok: false; readonly error: InvalidObject };

/** Thrown only inside a conversion and caught at its boundary: invalid input is data, never an escaping exception. */
export class InvalidInput extends Error {
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

export function invalid(reason: string, message: string): never {
  throw new InvalidInput(reason, message);
}

/** Runs a conversion body, turning an InvalidInput into the skipped-object record. */
export function convertGuarded<T>(
  kind: InvalidObject['kind'],
  ref: () => string,
  body: (warn: (reason: string, message: string) => void) => T,
): Conversion<T> {
  const warnings: InvalidObject[] = [];
  try {
    const value = body((reason, message) => warnings.push({ kind, ref: ref(), reason, message }));
    return { ok: true, value, warnings };
  } catch (err) {
    if (err instanceof InvalidInput) return { ok: false, error: { kind, ref: ref(), reason: err.reason, message: err.message } };
    return { ok: false, error: { kind, ref: ref(), reason: 'internal-error', message: String(err) } };
  }
}
