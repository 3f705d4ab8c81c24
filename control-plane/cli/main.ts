// The `labctl` command: kubectl's everyday verbs against a labkube control plane. main wires the
// command groups to commander and turns failures into one clear line and a non-zero exit code.
import { Command, CommanderError } from 'commander';
import { ApiError } from '../api/errors.ts';
import { ConnectionError } from '../client/client.ts';
import { registerApply } from './commands/apply.ts';
import { registerCreate } from './commands/create.ts';
import { registerDelete } from './commands/delete.ts';
import { registerDescribe } from './commands/describe.ts';
import { registerExpose } from './commands/expose.ts';
import { registerGet } from './commands/get.ts';
import { registerLogs } from './commands/logs.ts';
import { registerNodeCommands } from './commands/nodes.ts';
import { registerRollout } from './commands/rollout.ts';
import { registerScale } from './commands/scale.ts';
import { registerTop } from './commands/top.ts';
import { CliContext, UsageError, type GlobalOptions } from './context.ts';
import { KubeconfigError } from './kubeconfig.ts';

export type Runner = (fn: (ctx: CliContext) => Promise<void>) => Promise<void>;

export function buildProgram(): Command {
  const program = new Command('labctl')
    .description('Control a labkube cluster: kubectl\'s everyday commands')
    .option('--kubeconfig <path>', 'kubeconfig to use (default: $KUBECONFIG, then ./.labkube/kubeconfig)')
    .option('--context <name>', 'kubeconfig context to use')
    .option('-n, --namespace <namespace>', 'namespace for this request')
    .showHelpAfterError();
  const run: Runner = async (fn) => {
    const ctx = CliContext.fromOptions(program.opts<GlobalOptions>());
    try {
      await fn(ctx);
    } finally {
      ctx.close();
    }
  };
  registerGet(program, run);
  registerDescribe(program, run);
  registerCreate(program, run);
  registerExpose(program, run);
  registerApply(program, run);
  registerDelete(program, run);
  registerScale(program, run);
  registerRollout(program, run);
  registerLogs(program, run);
  registerTop(program, run);
  registerNodeCommands(program, run);
  return program;
}

/** One line for a person: kubectl's "Error from server (Reason): message" for API errors. */
export function describeError(err: unknown): string {
  if (err instanceof ConnectionError) return `error: ${err.message}`;
  if (err instanceof ApiError) return `Error from server (${err.reason}): ${err.message}`;
  if (err instanceof UsageError || err instanceof KubeconfigError) return `error: ${err.message}`;
  return `error: ${err instanceof Error ? err.message : String(err)}`;
}

export async function main(argv = process.argv): Promise<number> {
  const program = buildProgram().exitOverride();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    process.stderr.write(`${describeError(err)}\n`);
    return 1;
  }
}

process.exitCode = await main();
