// The source vocabulary is the model's (so a consumer of snapshots needs no API client); re-exported for sources.
export type { SnapshotListener, SnapshotMeta, SnapshotSource, TriggerTime, WatchHooks } from '@hybrid-proxy/model';
export type { SourceLogger } from './logger.js';
export type { ApiSourceOptions } from './api-source.js';
export { KubernetesApiSource, PROXY_LABEL_SELECTOR } from './api-source.js';
export type { InformerHandlers, ListResult, SupervisedInformerOptions } from './supervised-informer.js';
export { SupervisedInformer } from './supervised-informer.js';
export type { KubeConfigSource } from './kube-config.js';
export { loadKubeConfig } from './kube-config.js';
export type { ManifestSourceOptions } from './manifest-source.js';
export { ManifestDirectorySource } from './manifest-source.js';
export type { ManifestObjects } from './manifest-files.js';
export { classifyObjects, listManifestFiles, parseManifestText, readManifestFile } from './manifest-files.js';
export { jitteredBackoff } from './backoff.js';
export type { ListPage } from './paged-list.js';
export { LIST_PAGE_SIZE, listInPages } from './paged-list.js';
