import { readdir, readFile, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
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

/**
 * The manifest files under `dir`, symlinks followed: a ConfigMap volume shows each file as a symlink into a hidden
 * `..data` directory, so hidden entries are skipped (they would be read twice) and links are resolved.
 */
export async function listManifestFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  const files: string[] = [];
  for (const entry of entries) {
    const path = join(entry.parentPath, entry.name);
    if (!MANIFEST_FILE.test(entry.name) || relative(dir, path).split(sep).some((part) => part.startsWith('.'))) continue;
    if (entry.isFile() || (entry.isSymbolicLink() && (await stat(path).catch(() => undefined))?.isFile())) files.push(path);
  }
  return files.sort();
}

/** Parses one file's documents; `List` objects are unrolled. Throws with the parser's position on bad YAML. */
export function parseManifestText(text: string): unknown[] {
  const objects: unknown[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new Error(doc.errors.map((e) => e.message).join('; '));
    const value: unknown = doc.toJS({ maxAliasCount: 100 });
    if (value === null || value === undefined) continue;
    const items = (value as { kind?: unknown; items?: unknown }).kind === 'List' ? (value as { items?: unknown }).items : [value];
    if (Array.isArray(items)) for (const item of items) objects.push(item); // no spread: a List may hold 100k items
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
