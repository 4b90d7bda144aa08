import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';

const root = new URL('..', import.meta.url).pathname;
const nx = JSON.parse(readFileSync(`${root}/nx.json`, 'utf8'));
const { mendScope } = createRequire(import.meta.url)('../scripts/changelog-renderer.cjs') as { mendScope: (change: { scope: string; description: string }) => { scope: string; description: string } };

/** The types nx's changelog knows by default, and those nx.json adds. */
const KNOWN_TYPES = new Set(['feat', 'fix', 'perf', 'refactor', 'docs', 'chore', 'test', 'build', 'ci', 'style', 'revert', ...Object.keys(nx.release.conventionalCommits.types)]);
/** Commits before this one predate the check (two used a type list, `test,bench:`). */
const CHECKED_SINCE = 'ccb0dcf';
const SUBJECT = /^(?<type>[a-z]+)(?:\((?<scope>[^()]+)\))?!?: \S/;

describe('nx release', () => {
  it('takes git options at the top, so `nx release` runs, and finds its first changelog range without a tag', () => {
    expect(nx.release.git).toEqual({ commit: true, tag: true });
    expect(nx.release.changelog.git).toBeUndefined();
    expect(nx.release.changelog.automaticFromRef).toBe(true);
  });

  it('builds before versioning and before each publish', () => {
    expect(nx.release.version.preVersionCommand).toBe('npm run -s build');
    expect(nx.targetDefaults['nx-release-publish'].dependsOn).toEqual(['build']);
  });

  it('has a publishing workflow for a real CI: OIDC for provenance, the whole nx release, a dry run by default', () => {
    const workflow = parse(readFileSync(`${root}/.github/workflows/release.yml`, 'utf8'));
    expect(workflow.permissions).toMatchObject({ 'id-token': 'write', contents: 'write' });
    expect(workflow.on.workflow_dispatch.inputs['dry-run'].default).toBe(true);
    const steps = workflow.jobs.release.steps as { run?: string; env?: Record<string, string>; with?: Record<string, unknown> }[];
    expect(steps.find((step) => step.with?.['fetch-depth'] === 0)).toBeDefined();
    const release = steps.find((step) => step.run?.startsWith('npx nx release '));
    expect(release?.env).toMatchObject({ NPM_CONFIG_PROVENANCE: 'true', NODE_AUTH_TOKEN: '${{ secrets.NPM_TOKEN }}' });
  });

  it('mends a scope that nx read up to the last "): " of the subject', () => {
    // nx reads "perf(model,watcher): snapshots in O(changed): the assembler ..." with scope "model,watcher): snapshots in O(changed".
    expect(mendScope({ scope: 'model,watcher): snapshots in O(changed', description: 'the assembler is told' })).toEqual({ scope: 'model,watcher', description: 'snapshots in O(changed): the assembler is told' });
    expect(mendScope({ scope: 'ipvs', description: 'O(changed) partial syncs' })).toEqual({ scope: 'ipvs', description: 'O(changed) partial syncs' });
  });

  it('has every commit since the check in a conventional form, of a type the changelog knows', () => {
    const git = (...args: string[]) => execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    // A shallow clone may not reach back that far: then what it has.
    const known = (() => {
      try {
        git('cat-file', '-e', `${CHECKED_SINCE}^{commit}`);
        return true;
      } catch {
        return false;
      }
    })();
    const subjects = git('log', '--format=%s', known ? `${CHECKED_SINCE}..HEAD` : 'HEAD').split('\n').filter(Boolean);
    const wrong = subjects.filter((subject) => {
      const type = SUBJECT.exec(subject)?.groups?.['type'];
      return !type || !KNOWN_TYPES.has(type);
    });
    expect(wrong).toEqual([]);
  });
});
