// Request bodies: JSON for writes, YAML where a client sends it, the three patch types.
// A body that does not parse is a 400 Status that names the problem; nothing is written.
import { parse as parseYaml } from 'yaml';
import { BadRequestError, UnsupportedMediaTypeError } from '../api/errors.ts';
import { patchTypes, type PatchType } from './patch.ts';

const jsonTypes = new Set(['application/json', '*/*', '']);
const yamlTypes = new Set(['application/yaml', 'application/x-yaml', 'text/yaml']);

export const mediaType = (contentType: string | undefined): string =>
  (contentType ?? '').split(';')[0]!.trim().toLowerCase();

export function parseBody(contentType: string | undefined, raw: string | undefined): unknown {
  const type = mediaType(contentType);
  if (raw === undefined || raw === '') return undefined;
  if (yamlTypes.has(type)) {
    try {
      return parseYaml(raw, { maxAliasCount: 100 });
    } catch (err) {
      throw new BadRequestError(`error converting YAML to JSON: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  if (jsonTypes.has(type) || type in patchTypes) {
    try {
      return JSON.parse(raw);
    } catch (err) {
      throw new BadRequestError(`the body of the request was in an unknown format - accepted media types include: application/json, application/yaml (${(err as Error).message})`);
    }
  }
  throw new UnsupportedMediaTypeError(`the body of the request was in an unknown format: "${type}" - accepted media types include: application/json, application/yaml`);
}

export function patchTypeOf(contentType: string | undefined): PatchType {
  const type = mediaType(contentType);
  if (type in patchTypes) return type as PatchType;
  if (type === 'application/apply-patch+yaml') {
    throw new UnsupportedMediaTypeError('server-side apply is not supported by labkube: use client-side `kubectl apply`');
  }
  throw new UnsupportedMediaTypeError(`the body of the request was in an unknown format: "${type}" - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json`);
}
