/**
 * The API double as a process, for a namespace: `node api-server-main.js HOST PORT`. Reads commands as JSON lines
 * on stdin ({ op: 'apply', object } | { op: 'applyAll', objects } | { op: 'remove', kind, namespace, name } | { op: 'compact' } | { op: 'drop' } |
 * { op: 'stop' } | { op: 'start' }) and answers each with { id, ok, resourceVersion } or { id, ok: false, error }.
 */
import { createInterface } from 'node:readline';
import { ApiServerDouble } from './api-server-double.js';

const [host = '127.0.0.1', port = '6443'] = process.argv.slice(2);
const api = new ApiServerDouble();
await api.start(host, Number(port));

interface Command {
  id: number;
  op: 'apply' | 'applyAll' | 'remove' | 'compact' | 'drop' | 'stop' | 'start';
  object?: Record<string, unknown>;
  objects?: Record<string, unknown>[];
  kind?: string;
  namespace?: string;
  name?: string;
}

createInterface({ input: process.stdin }).on('line', async (line) => {
  const command = JSON.parse(line) as Command;
  try {
    if (command.op === 'apply') api.apply(command.object!);
    else if (command.op === 'applyAll') for (const object of command.objects!) api.apply(object);
    else if (command.op === 'remove') api.remove(command.kind!, command.namespace, command.name!);
    else if (command.op === 'compact') api.compact();
    else if (command.op === 'drop') api.dropWatches();
    else if (command.op === 'stop') await api.stop();
    else if (command.op === 'start') await api.start();
    process.stdout.write(JSON.stringify({ id: command.id, ok: true, resourceVersion: api.resourceVersion }) + '\n');
  } catch (err) {
    process.stdout.write(JSON.stringify({ id: command.id, ok: false, error: (err as Error).message }) + '\n');
  }
});
process.stdout.write('ready\n');
