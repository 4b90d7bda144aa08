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
    expect(second).toEqual(assembleSnapshot([web, api], [webSlice('198.18.1.2'), apiSlice]));
  });

  it('rebuilds when a slice appears or goes, even if the Service is the same object', () => {
    const assembler = new SnapshotAssembler();
    const first = assembler.assemble([api], [apiSlice]);
    const second = assembler.assemble([api], []);
    expect([...second.entries.values()][0]!.endpoints).toEqual([]);
    expect(assembler.assemble([api], [apiSlice]).entries).toEqual(first.entries);
  });
});
