import { describe, expect, it } from 'vitest';
import { assembleSnapshot, convertEndpointSlice, convertService, SnapshotAssembler, type EndpointSliceDef, type ServiceDef } from '@hybrid-proxy/model';
import { service, slice } from './fixtures.js';

const def = <T>(conversion: { ok: boolean; value?: T | null }): T => conversion.value as T;
const web = def<ServiceDef>(convertService(service({ metadata: { name: 'web', namespace: 'ns' } })));
const api = def<ServiceDef>(convertService(service({ metadata: { name: 'api', namespace: 'ns' } }, { clusterIP: '198.19.0.11' })));
const webSlice = (ip: string) => def<EndpointSliceDef>(convertEndpointSlice(slice({ metadata: { name: 'web-1', namespace: 'ns', labels: { 'kubernetes.io/service-name': 'web' } } }, [{ addresses: [ip] }])));
const apiSlice = def<EndpointSliceDef>(convertEndpointSlice(slice({ metadata: { name: 'api-1', namespace: 'ns', labels: { 'kubernetes.io/service-name': 'api' } } }, [{ addresses: ['198.18.1.9'] }])));

describe('SnapshotAssembler', () => {
  it('keeps the entries of a Service whose definition and slices are the same objects, and rebuilds a changed one', () => {
    const assembler = new SnapshotAssembler();
    const first = assembler.assemble([web, api], [webSlice('198.18.1.1'), apiSlice]);
    const second = assembler.assemble([web, api], [webSlice('198.18.1.2'), apiSlice]);
    const [apiKey, webKey] = [...first.entries.keys()];
    expect(second.entries.get(apiKey!)).toBe(first.entries.get(apiKey!));
    expect(second.entries.get(webKey!)).not.toBe(first.entries.get(webKey!));
    expect(second.entries.get(webKey!)!.endpoints.map((e) => e.ip)).toEqual(['198.18.1.2']);
    // The same content as a fresh assembly, whatever was reused.
    expect([...second.entries]).toEqual([...assembleSnapshot([web, api], [webSlice('198.18.1.2'), apiSlice]).entries]);
  });

  it('rebuilds when a slice appears or goes, even if the Service is the same object', () => {
    const assembler = new SnapshotAssembler();
    const first = assembler.assemble([api], [apiSlice]);
    const second = assembler.assemble([api], []);
    expect([...second.entries.values()][0]!.endpoints).toEqual([]);
    expect([...assembler.assemble([api], [apiSlice]).entries]).toEqual([...first.entries]);
  });
});

describe('SnapshotAssembler, told change by change', () => {
  /** A small random cluster walk: Services and slices come, change and go, in every order. */
  function* randomChanges(seed: number, steps: number) {
    // xorshift32: a seeded, repeatable walk.
    let state = seed;
    const random = (n: number) => {
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      return (state >>> 0) % n;
    };
    for (let step = 0; step < steps; step++) {
      const s = random(6);
      const svc = `svc-${s}`;
      const ports = [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }, ...(random(3) === 0 ? [{ name: 'dns', port: 53, targetPort: 53, protocol: 'UDP' }] : [])];
      switch (random(4)) {
        case 0:
          yield { kind: 'service' as const, id: `ns/${svc}`, def: def<ServiceDef>(convertService(service({ metadata: { name: svc, namespace: 'ns' } }, { clusterIP: `198.19.0.${10 + s}`, ports }))) };
          break;
        case 1:
          yield { kind: 'service' as const, id: `ns/${svc}`, def: undefined };
          break;
        case 2: {
          const name = `${svc}-${random(2)}`;
          const endpoints = Array.from({ length: random(4) }, () => ({ addresses: [`198.18.${s}.${1 + random(5)}`], conditions: { ready: true } }));
          const raw = slice({ metadata: { name, namespace: 'ns', labels: { 'kubernetes.io/service-name': svc } }, ports: [{ name: 'http', port: 8080, protocol: 'TCP' }, { name: 'dns', port: 53, protocol: 'UDP' }] }, endpoints);
          yield { kind: 'slice' as const, id: `ns/${name}`, def: def<EndpointSliceDef>(convertEndpointSlice(raw)) };
          break;
        }
        default:
          yield { kind: 'slice' as const, id: `ns/${svc}-${random(2)}`, def: undefined };
      }
    }
  }

  it.each([1, 2, 3, 4, 5])('ends every step equal to a fresh assembly of the same objects (seed %i)', (seed) => {
    const assembler = new SnapshotAssembler();
    const services = new Map<string, ServiceDef>();
    const slices = new Map<string, EndpointSliceDef>();
    let previous = assembler.snapshot();
    let reused = 0;
    for (const change of randomChanges(seed, 300)) {
      const [store, set] = change.kind === 'service' ? [services, (id: string, d: ServiceDef | undefined) => assembler.setService(id, d)] : [slices, (id: string, d: EndpointSliceDef | undefined) => assembler.setSlice(id, d)];
      if (change.def) (store as Map<string, unknown>).set(change.id, change.def);
      else store.delete(change.id);
      (set as (id: string, d: unknown) => void)(change.id, change.def);
      const next = assembler.snapshot();
      expect([...next.entries]).toEqual([...assembleSnapshot(services.values(), slices.values()).entries]);
      // Services the change did not touch keep their entry objects.
      for (const [key, entry] of next.entries) if (previous.entries.get(key) === entry) reused++;
      previous = next;
    }
    expect(reused).toBeGreaterThan(0);
  });

  it('hands out the same entries map when nothing changed', () => {
    const assembler = new SnapshotAssembler();
    assembler.setService('ns/web', web);
    assembler.setSlice('ns/web-1', webSlice('198.18.1.1'));
    const first = assembler.snapshot();
    assembler.setService('ns/web', web);
    expect(assembler.snapshot().entries).toBe(first.entries);
  });
});
