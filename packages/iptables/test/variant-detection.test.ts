import { describe, expect, it } from 'vitest';
import { FakeRunner, ToolMissingError } from '@hybrid-proxy/exec';
import { detectVariant } from '@hybrid-proxy/iptables';

const KUBE = '*nat\n:KUBE-SERVICES - [0:0]\n-A KUBE-SERVICES -j RETURN\nCOMMIT\n';

function node(saves: { nft?: string | null; legacy?: string | null }, version = 'iptables v1.8.9 (nf_tables)') {
  return new FakeRunner((call) => {
    if (call.file === 'iptables-nft-save') return saves.nft === null ? { exitCode: 127 } : { stdout: saves.nft ?? '' };
    if (call.file === 'iptables-legacy-save') return saves.legacy === null ? { exitCode: 127 } : { stdout: saves.legacy ?? '' };
    if (call.file === 'iptables') return { stdout: version };
    return undefined;
  });
}

describe('detectVariant', () => {
  it('follows the variant that already holds Kubernetes rules', async () => {
    expect(await detectVariant(node({ legacy: KUBE }), 4)).toBe('legacy');
    expect(await detectVariant(node({ nft: KUBE }, 'iptables v1.8.9 (legacy)'), 4)).toBe('nft');
  });

  it('else takes the system default that iptables --version names', async () => {
    expect(await detectVariant(node({}), 4)).toBe('nft');
    expect(await detectVariant(node({}, 'iptables v1.8.9 (legacy)'), 4)).toBe('legacy');
  });

  it('falls back to the plain commands when no variant binaries exist, and fails clearly when iptables is missing', async () => {
    const plain = new FakeRunner((call) => {
      if (call.file.endsWith('-save') && call.file !== 'iptables-save') throw new ToolMissingError(call.file);
      return { stdout: 'iptables v1.6.1' };
    });
    expect(await detectVariant(plain, 4)).toBe('default');
    const none = new FakeRunner((call) => {
      throw new ToolMissingError(call.file);
    });
    await expect(detectVariant(none, 6)).rejects.toThrow(/ip6tables was not found on PATH\. Install it with: apt-get install iptables/);
  });
});
