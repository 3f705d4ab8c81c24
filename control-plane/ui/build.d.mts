// Types for build.mjs, which stays plain JavaScript so scripts/bundle.mjs can import it.
import type * as esbuild from 'esbuild';

export function buildDashboardAssets(build: typeof esbuild): Promise<Record<string, string>>;
