import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runChecked, type CommandRunner } from '@hybrid-proxy/exec';
import { defaultPlannerOptions, IptablesExecutor, planIptables } from '@hybrid-proxy/iptables';
import { addNamespace, deleteNamespace, namespacePrefix } from '@hybrid-proxy/lab';
import { buildSnapshot } from '@hybrid-proxy/model';
import { eps, svc } from './scenarios.js';

const snapshot = buildSnapshot([svc('web', '198.19.0.1', [{ name: 'p80', port: 80 }])], [eps('web', ['198.18.1.1'])]);
const forwardJumps = async (run: CommandRunner, save: string) =>
  (await runChecked(run, save, ['-t', 'filter'])).stdout
    .split('\n')
    .filter((line) => line.startsWith('-A FORWARD'))
    .map((line) => line.split(' -j ')[1]);

describe.each(['nft', 'legacy'] as const)('a switch of layout on a node that keeps its rules (iptables-%s)', (variant) => {
  let ns: string;
  let run: CommandRunner;
  beforeAll(async () => {
    ns = `${namespacePrefix()}-layout-${variant}`;
    run = await addNamespace(ns);
  });
  afterAll(async () => deleteNamespace(ns));

  it("leaves FORWARD with the new layout's jumps only, each once, in both directions", async () => {
    const save = `iptables-${variant}-save`;
    const apply = async (dispatch: 'tree' | 'linear') => {
      // A restart with the other --dispatch: a new executor, whose first sync is full.
      const executor = new IptablesExecutor({ runner: run, family: 4, variant });
      await executor.apply(planIptables(snapshot, { ...defaultPlannerOptions, dispatch }));
      await executor.close();
    };
    await apply('linear');
    expect((await forwardJumps(run, save)).sort()).toEqual(['KUBE-EXTERNAL-SERVICES', 'KUBE-FORWARD', 'KUBE-PROXY-FIREWALL', 'KUBE-SERVICES']);
    await apply('tree');
    expect(await forwardJumps(run, save)).toEqual(['KUBE-FORWARD']);
    await apply('linear');
    expect((await forwardJumps(run, save)).sort()).toEqual(['KUBE-EXTERNAL-SERVICES', 'KUBE-FORWARD', 'KUBE-PROXY-FIREWALL', 'KUBE-SERVICES']);
  });
});
