import type { BuildOptions } from 'esbuild';

/** The agent's own esbuild options (agent/build.mjs), to be spread over the shared ones. */
export function agentBundleOptions(outfile: string): BuildOptions;
