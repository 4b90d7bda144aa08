export type { BuiltinJump, IptablesPlan, Rule, Table, TablePlan } from './rule-plan.js';
export { countRules, ruleText, TABLES } from './rule-plan.js';
export type { Dispatch, EndpointChains, PlannerOptions } from './planner-options.js';
export { defaultPlannerOptions, DISPATCH_MODES, ENDPOINT_CHAIN_MODES, masqueradeMark } from './planner-options.js';
export { ifNotLocal, localArgs, notLocalArgs, resolveLocalTraffic } from './local-traffic-rules.js';
export { createPlanMemo, IptablesPlanMemo, planIptables, renderPlan } from './planner.js';
export { PlanMemo, sameEntry } from './plan-memo.js';
export { DISPATCH_ROOT, gateSetName, hairpinSetName, lastByte, leafChainName } from './dispatch-tree.js';
export {
  chainHash,
  endpointChainName,
  isPerServiceChain,
  KUBE_FORWARD,
  KUBE_MARK_MASQ,
  KUBE_NODEPORTS,
  KUBE_POSTROUTING,
  KUBE_SERVICES,
  serviceChainName,
  shadowChainName,
} from './chain-names.js';
export { ruleComment } from './rule-comment.js';
export type { RenderOptions, TableChange } from './restore-text.js';
export { declaredJumpTargets, declareJumpTargets, jumpTargets, orderByJumps, quoteArg, renderRestoreInput, renderRule, restoreInputChunks } from './restore-text.js';
export type { AppliedState, ServeFirstChanges } from './chain-diff.js';
export { fullChanges, partialChanges, sameRules, serveFirstChanges } from './chain-diff.js';
export type { SavedTable } from './save-parser.js';
export { chainNames, parseSave } from './save-parser.js';
export type { IptablesTools, IptablesVariant } from './iptables-tools.js';
export { iptablesTools } from './iptables-tools.js';
export { detectVariant } from './variant-detection.js';
export { RestoreError } from './restore-error.js';
export type { ApplyResult, IptablesExecutorOptions } from './executor.js';
export { IptablesExecutor, lostSetMembers } from './executor.js';

export type { IpsetPlan, MemberChanges, SavedIpsets } from './ipset-text.js';
export { createSetLine, groupedIpset, ipsetChanges, ipsetOwners, ipsetSteps, MemberLedger, parseIpsetSave } from './ipset-text.js';
export type { CanonicalTables } from './saved-rule.js';
export { canonicalPlan, canonicalRule, canonicalSave, planDrift } from './saved-rule.js';
export { isKubeProxyChain, kubeProxyLeftovers } from './kube-proxy-leftovers.js';
