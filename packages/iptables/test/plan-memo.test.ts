import { describe, expect, it } from 'vitest';
import { sameEntry } from '@hybrid-proxy/iptables';
import type { Endpoint, ServiceEntry, ServicePort } from '@hybrid-proxy/model';
import { SCENARIOS } from './scenarios.js';

const base: ServiceEntry = [...SCENARIOS['basic']!.entries.values()].find((e) => e.endpoints.length > 0)!;
const clone = (entry: ServiceEntry): ServiceEntry => structuredClone(entry);

/** A different value of the same type, for each field. */
function changed(value: unknown): unknown {
  if (typeof value === 'string') return `${value}x`;
  if (typeof value === 'number') return value + 1;
  if (typeof value === 'boolean') return !value;
  if (Array.isArray(value)) return [...value, 'extra'];
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, changed(v)]));
  throw new Error(`no change for ${String(value)}`);
}

describe('sameEntry, the memo\'s equality', () => {
  it('holds for a structural copy', () => {
    expect(sameEntry(base, clone(base))).toBe(true);
  });

  it.each(Object.keys(base.service))('sees a change of ServicePort.%s', (field) => {
    const service = { ...base.service, [field]: changed(base.service[field as keyof ServicePort]) } as ServicePort;
    expect(sameEntry(base, { ...clone(base), service })).toBe(false);
  });

  it.each(Object.keys(base.endpoints[0]!))('sees a change of Endpoint.%s', (field) => {
    const endpoints = base.endpoints.map((e, i) => (i === 0 ? ({ ...e, [field]: changed(e[field as keyof Endpoint]) } as Endpoint) : e));
    expect(sameEntry(base, { ...clone(base), endpoints })).toBe(false);
  });

  it('sees an endpoint more or less', () => {
    expect(sameEntry(base, { ...base, endpoints: base.endpoints.slice(1) })).toBe(false);
  });
});
