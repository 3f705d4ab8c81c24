// What ConfigMaps and Secrets share: keys that become file names and environment variables, a
// size cap, and `immutable`, which freezes the data once set (Kubernetes' ValidateConfigMap and
// ValidateSecret).
import { InvalidError } from '../errors.ts';
import type { KubeObject } from '../meta.ts';
import { deepEqual } from '../objects.ts';
import type { Invalid } from './checks.ts';

/** Kubernetes' MaxSecretSize and the ConfigMap limit: a pod mounts the whole object at once. */
export const maxDataBytes = 1024 * 1024;

const configKey = /^[-._a-zA-Z0-9]+$/;

/** IsConfigMapKey: a key must be usable as a file name in a volume. */
export function configKeyError(key: string): string | undefined {
  if (key.length > 253) return 'must be no more than 253 characters';
  if (!configKey.test(key)) {
    return "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')";
  }
  if (key === '.' || key === '..' || key.startsWith('..')) return "must not be '.' or '..' or start with '..'";
  return undefined;
}

/** Checks each key of the maps named, and that their values add up to at most 1 MiB. */
export function dataErrors(obj: KubeObject, fields: string[], valueBytes: (field: string, value: string) => number, invalid: Invalid): void {
  let bytes = 0;
  const record = obj as unknown as Record<string, Record<string, string> | undefined>;
  for (const field of fields) {
    for (const [key, value] of Object.entries(record[field] ?? {})) {
      const err = configKeyError(key);
      if (err) invalid(`${field}[${key}]`, `Invalid value: ${JSON.stringify(key)}: ${err}`);
      bytes += valueBytes(field, value);
    }
  }
  if (bytes > maxDataBytes) invalid(fields[0]!, `Too long: must have at most ${maxDataBytes} bytes`, 'FieldValueTooLong');
}

/** An object marked immutable keeps its data and stays immutable (ValidateConfigMapUpdate). */
export function checkImmutableUpdate(current: KubeObject, next: KubeObject, fields: string[]): void {
  const was = current as unknown as Record<string, unknown>;
  const now = next as unknown as Record<string, unknown>;
  if (was.immutable !== true) return;
  const causes = fields.filter((f) => !deepEqual(was[f] ?? {}, now[f] ?? {}))
    .map((field) => ({ reason: 'FieldValueForbidden', field, message: 'Forbidden: field is immutable when `immutable` is set' }));
  if (now.immutable !== true) causes.push({ reason: 'FieldValueForbidden', field: 'immutable', message: 'Forbidden: field is immutable when `immutable` is set' });
  if (causes.length > 0) throw new InvalidError(String(next.kind ?? ''), next.metadata.name!, causes);
}

/** How many keys a ConfigMap or Secret holds: kubectl's DATA column. */
export const keyCount = (o: KubeObject, fields: string[]): number =>
  fields.reduce((n, f) => n + Object.keys((o as unknown as Record<string, object | undefined>)[f] ?? {}).length, 0);

/** Standard base64 with padding, as Go's encoding/json decodes a []byte. */
export const isBase64 = (s: string): boolean => /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(s);
