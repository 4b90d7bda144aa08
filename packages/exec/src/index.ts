export type { CommandResult, CommandRunner, RunOptions } from './command-runner.js';
export { CommandError, runChecked } from './command-runner.js';
export type { ExecaRunnerOptions } from './execa-runner.js';
export { createRunner } from './execa-runner.js';
export type { FakeResponder, RecordedCommand } from './fake-runner.js';
export { FakeRunner } from './fake-runner.js';
export { ToolMissingError } from './missing-tool.js';
export { StandbyCommand } from './standby-command.js';
export { StandbyPool } from './standby-pool.js';
