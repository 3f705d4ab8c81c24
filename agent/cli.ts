// The agent on its own: `labkube-agent ...` is `labkube agent ...`. This is the entry point of
// the bundled dist/labkube-agent.mjs that boards run with plain `node`.
import { Command } from 'commander';
import { registerAgentCommand, registerUninstallCommand } from './main.ts';

const program = new Command('labkube-agent');
registerAgentCommand(program);
registerUninstallCommand(program);
// `labkube-agent uninstall ...`, else every argument is the agent's: `labkube-agent --server ...`.
const args = process.argv[2] === 'uninstall' ? process.argv.slice(2) : ['agent', ...process.argv.slice(2)];
program.parseAsync([process.argv[0]!, process.argv[1]!, ...args]).catch((err: unknown) => {
  process.stderr.write(`labkube agent: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
