const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const CODES = Array.from(ALPHABET, (c) => c.charCodeAt(0));

/**
 * RFC 4648 base32 (standard alphabet, no padding) of the first `length` bytes, as Go's base32.StdEncoding writes
 * it before its '=' padding. The bytes come as a latin1 string (one character per byte, as crypto's hash() returns
 * with 'latin1'): a cold plan names 10k-110k chains, and a string result skips a Buffer per name.
 */
export function base32(bytes: string, length = bytes.length): string {
  const codes: number[] = [];
  let buffer = 0;
  let bits = 0;
  for (let i = 0; i < length; i++) {
    buffer = (buffer << 8) | bytes.charCodeAt(i);
    bits += 8;
    while (bits >= 5) {
      codes.push(CODES[(buffer >>> (bits - 5)) & 31]!);
      bits -= 5;
    }
    buffer &= (1 << bits) - 1;
  }
  if (bits > 0) codes.push(CODES[(buffer << (5 - bits)) & 31]!);
  return String.fromCharCode(...codes);
}
