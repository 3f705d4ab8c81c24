// Builds the dashboard's browser assets with esbuild: one minified script (main.ts and what it
// imports), one stylesheet (app.css) and the HTML shell. Plain JavaScript so that both
// scripts/bundle.mjs (plain node) and apiserver/ui.ts (under tsx, on the first request) can call it.
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));

/**
 * @param {typeof import('esbuild')} esbuild
 * @returns {Promise<Record<string, string>>} file name under /ui/ -> content
 */
export async function buildDashboardAssets(esbuild) {
  const result = await esbuild.build({
    entryPoints: [{ in: `${here}main.ts`, out: 'app' }, { in: `${here}app.css`, out: 'app' }],
    bundle: true,
    minify: true,
    format: 'esm',
    // Chromium, Firefox and Safari of the last few years: what a lab's laptops and projector PCs run.
    target: ['es2020'],
    outdir: `${here}out`,
    write: false,
    legalComments: 'none',
    logLevel: 'warning',
  });
  const assets = { 'index.html': await readFile(`${here}index.html`, 'utf8') };
  for (const file of result.outputFiles) assets[file.path.slice(file.path.lastIndexOf('/') + 1)] = file.text;
  return assets;
}
