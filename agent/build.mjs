// How the agent is bundled for boards (dist/labkube-agent.mjs): what scripts/bundle.mjs builds
// and what the agent's tests that time a start (test/agent/support.ts) run. Plain JavaScript, so
// that scripts/bundle.mjs (plain node) and the tests (under tsx) can both import it.
import { fileURLToPath } from 'node:url';

const entry = fileURLToPath(new URL('cli.ts', import.meta.url));
const wsMask = fileURLToPath(new URL('ws-mask.ts', import.meta.url));

/**
 * The agent reaches the engine on its local socket and never builds images: dockerode's SSH
 * transport (ssh2, which makes a 16 MB WebAssembly memory when loaded), its BuildKit sessions
 * (@grpc/grpc-js) and its BuildKit progress decoder (protobufjs, long) stay out of the bundle:
 * the first two 1.4 MB of source and 5 MB of RSS on Node 18 when loaded, the decoder 0.24 MB of
 * source text the agent never runs (npm run bench:agent-memory). A call to any of them fails
 * saying so.
 * @type {import('esbuild').Plugin}
 */
const withoutDockerSshOrBuildKit = {
  name: 'without-docker-ssh-or-buildkit',
  setup(b) {
    b.onResolve({ filter: /^\.\/(ssh|session|buildkit)$/ }, (args) => {
      if (!/docker-modem[\\/]lib$|dockerode[\\/]lib$/.test(args.resolveDir)) return undefined;
      return { path: args.path, namespace: 'agent-stub' };
    });
    b.onLoad({ filter: /.*/, namespace: 'agent-stub' }, (args) => ({
      contents: `module.exports = function () { throw new Error('dockerode ${args.path.slice(2)} is not part of the labkube agent (it reaches the engine on its local socket)'); };`,
      loader: 'js',
    }));
  },
};

/**
 * Node modules that bundled packages require when they load but the agent seldom or never uses:
 * dockerode's util requires zlib (for build contexts), sonic-boom (pino's writer) assert. Each
 * costs about 0.2 MB of heap once loaded; here such a require gives a stand-in that loads the
 * module on its first use. The agent's own code imports node modules directly, unchanged.
 * @type {import('esbuild').Plugin}
 */
const lazyNodeModules = {
  name: 'lazy-node-modules',
  setup(b) {
    b.onResolve({ filter: /^(node:)?(zlib|assert)$/ }, (args) => {
      if (args.kind !== 'require-call' || !/node_modules[\\/](dockerode|sonic-boom)[\\/]/.test(args.importer)) return undefined;
      return { path: args.path.replace(/^node:/, ''), namespace: 'lazy-node-module' };
    });
    b.onLoad({ filter: /.*/, namespace: 'lazy-node-module' }, (args) => ({
      // A function as the target, so that assert(value, message) can be called through it.
      contents: `let loaded; const load = () => (loaded ??= require('node:${args.path}'));
module.exports = new Proxy(function () {}, {
  get: (_, key) => load()[key],
  has: (_, key) => key in load(),
  apply: (_, self, argv) => Reflect.apply(load(), self, argv),
});`,
      loader: 'js',
    }));
  },
};

/**
 * ws's optional native masking (`bufferutil`, not installed) is agent/ws-mask.ts, word by word:
 * under lite mode's interpreter ws's own byte loop would make kubectl cp into a pod crawl.
 * @type {import('esbuild').Plugin}
 */
const wsMaskWordByWord = {
  name: 'ws-mask-word-by-word',
  setup(b) {
    b.onResolve({ filter: /^bufferutil$/ }, (args) => (/node_modules[\\/]ws[\\/]/.test(args.importer) ? { path: wsMask } : undefined));
  },
};

/**
 * The agent's own esbuild options, to be spread over the shared ones (bundle, platform, format,
 * target, externals, banner). Minified: V8 keeps a script's whole source text in its heap for as
 * long as the script lives (to compile its functions lazily), and a table of its line ends once a
 * stack trace is formatted: minified, 0.7 MB instead of 1.8 MB, and 1.2 MB less heap. keepNames
 * keeps functions' and classes' `name` (the API errors name themselves with new.target.name; pino
 * logs an error's class). The source map beside the bundle (not installed on boards) maps a stack
 * trace's line:column back to the sources.
 * @param {string} outfile
 * @returns {import('esbuild').BuildOptions}
 */
export function agentBundleOptions(outfile) {
  return {
    entryPoints: [entry], outfile, plugins: [withoutDockerSshOrBuildKit, lazyNodeModules, wsMaskWordByWord],
    minify: true, keepNames: true, sourcemap: 'external', sourcesContent: false,
  };
}
