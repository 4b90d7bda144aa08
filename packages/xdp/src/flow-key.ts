import { parseIP } from '@hybrid-proxy/model';
import { FLOW_KEY_BYTES } from './map-layout.js';

const PROTOCOL_NUMBERS = { TCP: 6, UDP: 17, SCTP: 132 } as const;
export type FlowProtocol = keyof typeof PROTOCOL_NUMBERS;

/** struct hp_flow_key as bytes: the address IPv4-mapped into 16 bytes, the port in network order, the protocol, a pad. */
export function flowKey(ip: string, port: number, protocol: FlowProtocol): Uint8Array {
  const parsed = parseIP(ip);
  if (!parsed) throw new Error(`not an IP address: ${ip}`);
  const key = new Uint8Array(FLOW_KEY_BYTES);
  if (parsed.family === 4) {
    key[10] = 0xff;
    key[11] = 0xff;
    parsed.ip.split('.').forEach((octet, i) => (key[12 + i] = Number(octet)));
  } else {
    expandIPv6(parsed.ip).forEach((group, i) => {
      key[i * 2] = group >> 8;
      key[i * 2 + 1] = group & 0xff;
    });
  }
  key[16] = port >> 8;
  key[17] = port & 0xff;
  key[18] = PROTOCOL_NUMBERS[protocol];
  return key;
}

function expandIPv6(ip: string): number[] {
  const [head = '', tail = ''] = ip.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = ip.includes('::') ? [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t] : h;
  return groups.map((g) => parseInt(g, 16));
}

/** The key as bpftool reads it: `hex 00 00 ...`, and as its JSON dumps show it: ["0x00", ...] joined. */
export function keyHex(key: Uint8Array): string {
  return [...key].map((b) => b.toString(16).padStart(2, '0')).join(' ');
}

export function hexBytes(values: readonly string[]): Uint8Array {
  return Uint8Array.from(values.map((v) => parseInt(v, 16)));
}

/** A u32 slot index as four little-endian bytes (map values on x86 and arm64). */
export function u32Hex(value: number): string {
  return [value & 0xff, (value >>> 8) & 0xff, (value >>> 16) & 0xff, (value >>> 24) & 0xff].map((b) => b.toString(16).padStart(2, '0')).join(' ');
}

/** Little-endian unsigned integer from bytes, as BigInt: JSON numbers would lose precision above 2^53. */
export function readU64(bytes: Uint8Array, offset: number): bigint {
  let value = 0n;
  for (let i = 7; i >= 0; i--) value = (value << 8n) | BigInt(bytes[offset + i] ?? 0);
  return value;
}

export function readU32(bytes: Uint8Array): number {
  return (bytes[0] ?? 0) | ((bytes[1] ?? 0) << 8) | ((bytes[2] ?? 0) << 16) | (((bytes[3] ?? 0) << 24) >>> 0);
}
