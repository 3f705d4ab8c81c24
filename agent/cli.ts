// The agent on its own: `labkube-agent ...` is `labkube agent ...`. This is the entry point of
// the bundled dist/labkube-agent.mjs that boards run with plain `node`.
import { Command } from 'commander';
import { registerAgentCommand } from './main.ts';

const program = new Command('labkube-agent');
registerAgentCommand(program);
program.parseAsync([process.argv[0]!, process.argv[1]!, 'agent', ...process.argv.slice(2)]).catch((err: unknown) => {
  process.stderr.write(`labkube agent: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
