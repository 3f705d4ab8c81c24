// `npm run bundle`: one self-contained ESM file per program, run with plain `node`:
//   dist/labkube.mjs        the control plane and labctl (`node dist/labkube.mjs server`)
//   dist/labkube-agent.mjs  the node agent, for boards with no npm and no internet
// Native modules stay outside the bundle: better-sqlite3 (server only; the agent never loads it)
// and the optional native speed-ups of ssh2, which dockerode loads (cpu-features, *.node): ssh2
// falls back to plain JS without them, and the agent never uses SSH to reach its local socket.
// The dashboard's browser assets (control-plane/ui) are built first and put into the server's
// bundle as one constant, so dist/labkube.mjs serves /ui/ with no other file beside it.
import * as esbuild from 'esbuild';
import { buildDashboardAssets } from '../control-plane/ui/build.mjs';
import { agentBundleOptions } from '../agent/build.mjs';

const { build } = esbuild;

const common = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  // Debian bookworm and Raspberry Pi OS ship Node 18.
  target: 'node18',
  external: ['better-sqlite3', 'cpu-features', '*.node'],
  // Bundled CommonJS dependencies use require, __filename and __dirname; ESM has none of them.
  banner: {
    js: [
      "import { createRequire as __lkRequire } from 'node:module';",
      "import { fileURLToPath as __lkPath } from 'node:url';",
      "import { dirname as __lkDir } from 'node:path';",
      'const require = __lkRequire(import.meta.url);',
      'const __filename = __lkPath(import.meta.url);',
      'const __dirname = __lkDir(__filename);',
    ].join(' '),
  },
  logLevel: 'warning',
  legalComments: 'none',
};

const dashboard = await buildDashboardAssets(esbuild);
await build({
  ...common, entryPoints: ['control-plane/main.ts'], outfile: 'dist/labkube.mjs',
  // ui.ts builds the assets itself only when this constant is missing (run from source with tsx).
  define: { __LABKUBE_UI_ASSETS__: JSON.stringify(JSON.stringify(dashboard)) },
  external: [...common.external, 'esbuild'],
});
// The agent: agent/build.mjs says how (minified, without dockerode's SSH and BuildKit parts).
await build({ ...common, ...agentBundleOptions('dist/labkube-agent.mjs') });
