// Reads the objects named by `-f`: a file, every .yaml/.yml/.json file in a directory, or `-`
// for stdin; each file may hold several YAML documents (or a v1 List).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { KubeObject } from '../api/meta.ts';
import { UsageError } from './context.ts';

export interface Manifest { object: KubeObject; source: string }

function filesOf(path: string): string[] {
  if (path === '-') return ['-'];
  let stat;
  try { stat = statSync(path); } catch { throw new UsageError(`the path "${path}" does not exist`); }
  if (!stat.isDirectory()) return [path];
  return readdirSync(path).filter((f) => /\.(ya?ml|json)$/.test(f)).sort().map((f) => join(path, f));
}

export function readManifests(paths: string[]): Manifest[] {
  const out: Manifest[] = [];
  for (const file of paths.flatMap(filesOf)) {
    const text = readFileSync(file === '-' ? 0 : file, 'utf8');
    for (const doc of parseAllDocuments(text)) {
      if (doc.errors.length > 0) throw new UsageError(`error parsing ${file}: ${doc.errors[0]!.message.split('\n')[0]}`);
      const value = doc.toJS() as KubeObject | null;
      if (value === null || value === undefined) continue;
      const items = value.kind === 'List' && Array.isArray(value.items) ? (value.items as KubeObject[]) : [value];
      for (const object of items) {
        if (!object.apiVersion || !object.kind) throw new UsageError(`error validating ${file}: apiVersion and kind are required`);
        if (!object.metadata?.name) throw new UsageError(`error validating ${file}: metadata.name is required (${object.kind})`);
        out.push({ object, source: file });
      }
    }
  }
  if (out.length === 0) throw new UsageError('no objects passed to apply');
  return out;
}
