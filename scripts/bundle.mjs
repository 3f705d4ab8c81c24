// `npm run bundle`: one self-contained ESM file per program, run with plain `node`:
//   dist/labkube.mjs        the control plane and labctl (`node dist/labkube.mjs server`)
//   dist/labkube-agent.mjs  the node agent, for boards with no npm and no internet
// Native modules stay outside the bundle: better-sqlite3 (server only; the agent never loads it)
// and ssh2/cpu-features (optional in dockerode, never used to reach a local socket).
import { build } from 'esbuild';

const common = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  // Debian bookworm and Raspberry Pi OS ship Node 18.
  target: 'node18',
  external: ['better-sqlite3', 'ssh2', 'cpu-features'],
  // Bundled CommonJS dependencies call require(); ESM has none unless we make one.
  banner: { js: "import { createRequire as __labkubeCreateRequire } from 'node:module'; const require = __labkubeCreateRequire(import.meta.url);" },
  logLevel: 'warning',
  legalComments: 'none',
};

await build({ ...common, entryPoints: ['control-plane/main.ts'], outfile: 'dist/labkube.mjs' });
await build({ ...common, entryPoints: ['agent/cli.ts'], outfile: 'dist/labkube-agent.mjs' });
