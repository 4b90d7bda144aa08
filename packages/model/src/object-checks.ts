/** Small structural checks for objects that arrive as untyped JSON or YAML. */

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const IANA_SVC_NAME = /^(?=.*[a-z])[a-z0-9]([a-z0-9]|-(?!-))*$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

export const isDns1123Label = (v: unknown): v is string =>
  typeof v === 'string' && v.length <= 63 && DNS1123_LABEL.test(v);
/** Service names are DNS-1035 labels: they start with a letter. */
export const isDns1035Label = (v: unknown): v is string =>
  typeof v === 'string' && v.length <= 63 && DNS1035_LABEL.test(v);
export const isDns1123Subdomain = (v: unknown): v is string =>
  typeof v === 'string' && v.length <= 253 && DNS1123_SUBDOMAIN.test(v);
/** Named ports (targetPort names) are IANA service names: up to 15 characters, at least one letter. */
export const isIanaSvcName = (v: unknown): v is string =>
  typeof v === 'string' && v.length <= 15 && IANA_SVC_NAME.test(v) && !v.startsWith('-') && !v.endsWith('-');
export const isLabelValue = (v: unknown): v is string =>
  typeof v === 'string' && v.length <= 63 && LABEL_VALUE.test(v);

export const isPortNumber = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 65535;

/** Reads `obj.metadata.labels[key]` when every level is well formed. */
export function labelOf(obj: Record<string, unknown>, key: string): unknown {
  const meta = obj['metadata'];
  if (!isRecord(meta)) return undefined;
  const labels = meta['labels'];
  return isRecord(labels) ? labels[key] : undefined;
}
