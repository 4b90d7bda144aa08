import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiServerDouble } from '@hybrid-proxy/lab';

const service = (name: string) => ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'shop' }, spec: { clusterIP: '198.19.0.1', ports: [{ name: 'http', port: 80 }] } });

describe('the API double lists in pages', () => {
  let api: ApiServerDouble;
  let base: string;
  beforeAll(async () => {
    api = new ApiServerDouble();
    base = await api.start();
    for (let i = 0; i < 5; i++) api.apply(service(`s${i}`));
  });
  afterAll(async () => api.stop());

  const get = async (query: string) => {
    const res = await fetch(`${base}/api/v1/services?${query}`);
    return { status: res.status, body: (await res.json()) as { items: { metadata: { name: string } }[]; metadata: { resourceVersion: string; continue?: string } } };
  };

  it("serves every page from the first page's snapshot, as kube-apiserver does", async () => {
    const first = await get('limit=2');
    expect(first.body.items.map((o) => o.metadata.name)).toEqual(['s0', 's1']);
    // Changed after the first page: the rest of this list does not see it.
    api.remove('Service', 'shop', 's3');
    api.apply(service('s9'));
    const second = await get(`limit=2&continue=${first.body.metadata.continue}`);
    const third = await get(`limit=2&continue=${second.body.metadata.continue}`);
    expect([...second.body.items, ...third.body.items].map((o) => o.metadata.name)).toEqual(['s2', 's3', 's4']);
    expect(third.body.metadata.continue).toBeUndefined();
    expect(new Set([first, second, third].map((p) => p.body.metadata.resourceVersion)).size).toBe(1);
    // A token is good once.
    expect((await get(`limit=2&continue=${first.body.metadata.continue}`)).status).toBe(410);
  });
});
