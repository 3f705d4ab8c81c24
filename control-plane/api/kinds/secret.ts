// Secret: a ConfigMap for credentials. `data` values are base64; `stringData` is plain text the
// server folds into `data` on every write and never stores. The viewer token cannot read Secrets
// (apiserver/auth.ts), and the server never logs request bodies, so a Secret's values appear
// only to the admin. Some types require keys, as Kubernetes' ValidateSecret does.
import { InvalidError } from '../errors.ts';
import { Secret } from '../core.ts';
import { ageCol, col, nameCol } from './columns.ts';
import { checkImmutableUpdate, dataErrors, isBase64, keyCount } from './config-data.ts';
import { resource, type KindStrategy } from './strategy.ts';

/** Keys a Secret of these types must hold. */
const requiredKeys: Record<string, string[]> = {
  'kubernetes.io/tls': ['tls.crt', 'tls.key'],
  'kubernetes.io/dockerconfigjson': ['.dockerconfigjson'],
  'kubernetes.io/dockercfg': ['.dockercfg'],
  'kubernetes.io/ssh-auth': ['ssh-privatekey'],
};

export const secretStrategy: KindStrategy = {
  resource: resource({ group: '', version: 'v1', kind: 'Secret', plural: 'secrets', namespaced: true, shortNames: [], schema: Secret, hasSpec: false }),
  columns: [
    nameCol,
    col('Type', (o) => (o as unknown as Secret).type ?? 'Opaque', { description: 'The type of the secret' }),
    col('Data', (o) => keyCount(o, ['data']), { type: 'integer', description: 'The number of keys in data' }),
    ageCol,
  ],
  defaults(obj) {
    // Runs before validation, so it checks shapes itself; a wrong one is left for validation.
    const s = obj as unknown as { data?: unknown; stringData?: unknown };
    if (s.stringData === null || typeof s.stringData !== 'object' || Array.isArray(s.stringData)) return;
    if (s.data !== undefined && (s.data === null || typeof s.data !== 'object' || Array.isArray(s.data))) return;
    const entries = Object.entries(s.stringData as Record<string, unknown>);
    if (!entries.every(([, v]) => typeof v === 'string')) return;
    s.data = { ...(s.data as Record<string, string> | undefined), ...Object.fromEntries(entries.map(([k, v]) => [k, Buffer.from(v as string).toString('base64')])) };
    delete s.stringData;
  },
  validate(obj, invalid) {
    const secret = obj as unknown as Secret;
    dataErrors(obj, ['data'], (_field, value) => Buffer.from(value, 'base64').length, invalid);
    for (const [key, value] of Object.entries(secret.data ?? {})) {
      if (!isBase64(value)) invalid(`data[${key}]`, 'Invalid value: must be base64');
    }
    for (const key of requiredKeys[secret.type ?? 'Opaque'] ?? []) {
      if (secret.data?.[key] === undefined) invalid(`data[${key}]`, 'Required value', 'FieldValueRequired');
    }
    if (secret.type === 'kubernetes.io/basic-auth' && secret.data?.username === undefined && secret.data?.password === undefined) {
      invalid('data[username]', 'Required value', 'FieldValueRequired');
    }
  },
  validateUpdate(current, next) {
    const was = (current as unknown as Secret).type ?? 'Opaque';
    const now = (next as unknown as Secret).type ?? 'Opaque';
    if (was !== now) {
      throw new InvalidError('Secret', next.metadata.name!, [{ reason: 'FieldValueInvalid', field: 'type', message: `Invalid value: ${JSON.stringify(now)}: field is immutable` }]);
    }
    checkImmutableUpdate(current, next, ['data']);
  },
};
