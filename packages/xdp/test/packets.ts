/** Builds Ethernet frames byte by byte for the BPF test-run table. */

const mac = [0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2];
const u16 = (v: number) => [v >> 8, v & 0xff];
const ipv4Bytes = (ip: string) => ip.split('.').map(Number);

function ipv6Bytes(ip: string): number[] {
  const [head = '', tail = ''] = ip.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = ip.includes('::') ? [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t] : h;
  return groups.flatMap((g) => u16(parseInt(g, 16)));
}

export interface FrameOptions {
  readonly vlans?: number;
  readonly qinq?: boolean;
  readonly ipOptions?: number;
  /** IPv4: flags/fragment offset field; IPv6: add a fragment header. */
  readonly fragment?: number | boolean;
  /** Cut the frame to this many bytes. */
  readonly truncate?: number;
}

function l2(etherType: number, options: FrameOptions): number[] {
  const tags: number[] = [];
  if (options.qinq) tags.push(...u16(0x88a8), ...u16(100));
  for (let i = 0; i < (options.vlans ?? 0); i++) tags.push(...u16(0x8100), ...u16(200 + i));
  return [...mac, ...tags, ...u16(etherType)];
}

const l4 = (protocol: number, srcPort: number, dstPort: number) =>
  protocol === 6 ? [...u16(srcPort), ...u16(dstPort), 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0] : [...u16(srcPort), ...u16(dstPort), 0, 8, 0, 0];

export function ipv4Frame(src: string, dst: string, protocol: number, srcPort: number, dstPort: number, options: FrameOptions = {}): Uint8Array {
  const extra = options.ipOptions ?? 0;
  const payload = l4(protocol, srcPort, dstPort);
  const ihl = 5 + extra;
  const header = [0x40 | ihl, 0, ...u16(ihl * 4 + payload.length), 0, 1, ...u16(typeof options.fragment === 'number' ? options.fragment : 0), 64, protocol, 0, 0, ...ipv4Bytes(src), ...ipv4Bytes(dst), ...Array<number>(extra * 4).fill(1)];
  const frame = [...l2(0x0800, options), ...header, ...payload];
  return Uint8Array.from(frame.slice(0, options.truncate ?? frame.length));
}

export function ipv6Frame(src: string, dst: string, protocol: number, srcPort: number, dstPort: number, options: FrameOptions = {}): Uint8Array {
  const payload = l4(protocol, srcPort, dstPort);
  const fragmentHeader = options.fragment ? [protocol, 0, 0, 1, 0, 0, 0, 7] : [];
  const next = options.fragment ? 44 : protocol;
  const header = [0x60, 0, 0, 0, ...u16(payload.length + fragmentHeader.length), next, 64, ...ipv6Bytes(src), ...ipv6Bytes(dst)];
  const frame = [...l2(0x86dd, options), ...header, ...fragmentHeader, ...payload];
  return Uint8Array.from(frame.slice(0, options.truncate ?? frame.length));
}

export function arpFrame(): Uint8Array {
  return Uint8Array.from([...mac, ...u16(0x0806), 0, 1, 8, 0, 6, 4, 0, 1, ...mac.slice(6), 198, 18, 0, 2, 0, 0, 0, 0, 0, 0, 198, 18, 0, 1]);
}
