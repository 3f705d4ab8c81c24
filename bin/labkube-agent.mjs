#!/usr/bin/env node
// `labkube-agent ...` = `labkube agent ...`: runs the agent alone through tsx (tests spawn it).
import { register } from 'tsx/esm/api';

register();
const { Command } = await import('commander');
const { registerAgentCommand } = await import('../agent/main.ts');
const program = new Command('labkube-agent');
registerAgentCommand(program);
program.parseAsync([process.argv[0], process.argv[1], 'agent', ...process.argv.slice(2)]).catch((err) => {
  process.stderr.write(`labkube agent: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
