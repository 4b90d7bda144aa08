// Runs the command from /hp-results/command.json (an argument array) inside the guest; its exit code is ours.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const [file, ...args] = JSON.parse(readFileSync('/hp-results/command.json', 'utf8'));
const env = { ...process.env, HP_IN_VM: '1', ...JSON.parse(readFileSync('/hp-results/env.json', 'utf8')) };
const result = spawnSync(file, args, { stdio: 'inherit', env });
process.exit(result.status ?? 1);
