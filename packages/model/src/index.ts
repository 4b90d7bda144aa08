export type {
  Endpoint,
  InvalidObject,
  IPFamily,
  NodeInfo,
  Protocol,
  ServiceEntry,
  ServicePort,
  ServicePortKey,
  SessionAffinity,
  Snapshot,
  TrafficPolicy,
} from './types.js';
export type { Conversion } from './invalid.js';
export type { ServiceDef, ServiceConversion } from './service-conversion.js';
export { convertService, HEADLESS_LABEL, SERVICE_PROXY_NAME_LABEL } from './service-conversion.js';
export type { EndpointSliceDef, EndpointSliceConversion, SliceEndpoint, SlicePort } from './endpointslice-conversion.js';
export { convertEndpointSlice, LAST_CHANGE_TRIGGER_TIME_ANNOTATION, SERVICE_NAME_LABEL } from './endpointslice-conversion.js';
export { assembleSnapshot, buildSnapshot, collectConversions, emptySnapshot, SnapshotAssembler } from './snapshot-builder.js';
export type { SnapshotDiff } from './snapshot-diff.js';
export { diffSnapshots, isEmptyDiff, sameEndpoints, sameService } from './snapshot-diff.js';
export type { ParsedIP } from './ip-address.js';
export type { ParsedCIDR } from './cidr.js';
export { cidrContains, parseCIDR } from './cidr.js';
export { joinHostPort, parseIP } from './ip-address.js';
export { servicePortKey } from './service-port-key.js';
export { convertNode, TO_BE_DELETED_TAINT, ZONE_LABEL } from './node-conversion.js';
export type { LocalTrafficDetector, LocalTrafficMatch, LocalTrafficMode } from './local-traffic.js';
export { LOCAL_TRAFFIC_MODES, localTrafficMatch, NO_LOCAL_DETECTOR } from './local-traffic.js';
export { OverlayMap } from './overlay-map.js';
export type { EndpointCategories, NodeIdentity } from './endpoint-categories.js';
export { categorizeEndpoints, isExternallyAccessible, localEndpointsOf } from './endpoint-categories.js';
export type { SnapshotListener, SnapshotMeta, SnapshotSource, TriggerTime, WatchHooks } from './snapshot-source.js';
