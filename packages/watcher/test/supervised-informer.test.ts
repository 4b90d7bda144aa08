import { describe, expect, it } from 'vitest';
import { CoreV1Api, type KubernetesObject } from '@kubernetes/client-node';
import type { ApiServerDouble } from '@hybrid-proxy/lab';
import { listInPages, SupervisedInformer, type SourceLogger } from '@hybrid-proxy/watcher';
import { apiDoubleForEachTest, kubeConfigFor, service } from './api-fixtures.js';

const logger: SourceLogger = { info: () => undefined, warn: () => undefined, error: () => undefined };
let api: ApiServerDouble;
let informer: SupervisedInformer | undefined;

apiDoubleForEachTest({
  started: (double) => {
    api = double;
  },
  stopClient: async () => {
    await informer?.stop();
    informer = undefined;
  },
});

const until = async (test: () => boolean) => {
  for (let i = 0; i < 400 && !test(); i++) await new Promise((r) => setTimeout(r, 25));
  expect(test()).toBe(true);
};

describe('SupervisedInformer with trimCached', () => {
  it('converts each listed page as it arrives, each object once, and a relist only what changed', async () => {
    for (let i = 0; i < 1201; i++) api.apply(service(`s${i}`, `198.19.${i >> 8}.${i & 255}`));
    const kubeConfig = kubeConfigFor(api.url);
    const core = kubeConfig.makeApiClient(CoreV1Api);
    /** Each upsert: the name, and whether the whole object was there to convert. */
    const upserts: string[] = [];
    /** How many objects had been converted when each page was asked for. */
    const convertedAtPage: number[] = [];
    informer = new SupervisedInformer({
      resource: 'services',
      kubeConfig,
      path: '/api/v1/services',
      logger,
      trimCached: true,
      watchTimeoutSeconds: 1,
      list: (onPage) =>
        listInPages((page) => {
          convertedAtPage.push(upserts.length);
          return core.listServiceForAllNamespaces(page);
        }, onPage),
      handlers: {
        upsert: (obj: KubernetesObject) => upserts.push(`${obj.metadata?.name}${'spec' in obj && obj.spec ? '' : ' (trimmed)'}`),
        remove: () => undefined,
        listed: () => undefined,
      },
    });
    informer.start();
    await informer.synced;
    // Pages of 500: a page's objects are converted before the next page is fetched, so they need not all wait.
    expect(convertedAtPage).toEqual([0, 500, 1000]);
    expect(upserts).toHaveLength(1201);
    expect(new Set(upserts).size).toBe(1201);
    expect(upserts.every((u) => !u.endsWith('(trimmed)'))).toBe(true);

    // A relist after 410 Gone: the unchanged 1200 are not converted again, the changed one is, once.
    upserts.length = 0;
    convertedAtPage.length = 0;
    api.hangWatches();
    api.apply(service('s7', '198.19.9.9'));
    api.compact();
    await until(() => convertedAtPage.length === 3);
    await new Promise((r) => setTimeout(r, 200));
    expect(upserts).toEqual(['s7']);
  });
});
