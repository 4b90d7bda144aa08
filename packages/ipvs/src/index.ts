export type { IpvsPlan, RealServer, Scheduler, VirtualServer } from './ipvs-plan.js';
export { DUMMY_INTERFACE, hostPort, SCHEDULERS, virtualServerId } from './ipvs-plan.js';
export type { IpvsPlanMemo, IpvsPlannerOptions } from './ipvs-planner.js';
export { createIpvsPlanMemo, defaultIpvsPlannerOptions, planIpvs } from './ipvs-planner.js';
export type { IpvsSetKey } from './ipvs-sets.js';
export { IPVS_SETS, ipvsSetName, ipvsSetNames } from './ipvs-sets.js';
export { ipvsChanges, parseIpvsadmSave, realServerLine, virtualServerLine } from './ipvsadm-text.js';
export { addressChanges, managedAddresses } from './address-changes.js';
export type { IpvsApplyResult, IpvsExecutorOptions } from './ipvs-executor.js';
export { IpvsExecutor, IpvsRestoreError, IpvsUnavailableError } from './ipvs-executor.js';

export { renderIpvsPlan } from './render-ipvs-plan.js';
export type { DrainingReal } from './graceful-termination.js';
export { drainedReals, gracefulOperations, withDraining } from './graceful-termination.js';
export type { IpvsOperation, ListedReal } from './ipvsadm-text.js';
export { ipvsOperations, operationLine, parseIpvsadmList } from './ipvsadm-text.js';
export { savedDigest, serversDigest, StateDigest } from './state-digest.js';
export type { SavedService } from './ipvsadm-text.js';
export { forEachSaved } from './ipvsadm-text.js';
