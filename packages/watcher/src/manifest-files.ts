import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';

export interface ManifestObjects {
  readonly services: unknown[];
  readonly endpointSlices: unknown[];
}

export interface ManifestFileError {
  readonly file: string;
  readonly message: string;
}

const MANIFEST_FILE = /\.(ya?ml|json)$/;

export async function listManifestFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && MANIFEST_FILE.test(e.name) && !e.name.startsWith('.'))
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

/** Parses one file's documents; `List` objects are unrolled. Throws with the parser's position on bad YAML. */
export function parseManifestText(text: string): unknown[] {
  const objects: unknown[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new Error(doc.errors.map((e) => e.message).join('; '));
    const value: unknown = doc.toJS({ maxAliasCount: 100 });
    if (value === null || value === undefined) continue;
    const items = (value as { kind?: unknown; items?: unknown }).kind === 'List' ? (value as { items?: unknown }).items : [value];
    if (Array.isArray(items)) objects.push(...items);
  }
  return objects;
}

/** Sorts objects into the kinds the proxy follows; other kinds (Deployments beside them, say) are ignored. */
export function classifyObjects(objects: readonly unknown[], into: ManifestObjects): void {
  for (const obj of objects) {
    const kind = (obj as { kind?: unknown } | null)?.kind;
    if (kind === 'Service') into.services.push(obj);
    else if (kind === 'EndpointSlice') into.endpointSlices.push(obj);
  }
}

export async function readManifestFile(file: string): Promise<unknown[]> {
  return parseManifestText(await readFile(file, 'utf8'));
}
