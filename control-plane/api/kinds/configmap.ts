// ConfigMap: configuration a pod reads as files or environment. No spec and no status; `data`
// holds text, `binaryData` base64, and a key may be in only one of them.
import { ConfigMap } from '../core.ts';
import { ageCol, col, nameCol } from './columns.ts';
import { checkImmutableUpdate, dataErrors, isBase64, keyCount } from './config-data.ts';
import { resource, type KindStrategy } from './strategy.ts';

const fields = ['data', 'binaryData'];

export const configMapStrategy: KindStrategy = {
  resource: resource({ group: '', version: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespaced: true, shortNames: ['cm'], schema: ConfigMap, hasSpec: false }),
  columns: [nameCol, col('Data', (o) => keyCount(o, fields), { type: 'integer', description: 'The number of keys in data and binaryData' }), ageCol],
  validate(obj, invalid) {
    const cm = obj as unknown as ConfigMap;
    dataErrors(obj, fields, (field, value) => (field === 'binaryData' ? Buffer.from(value, 'base64').length : Buffer.byteLength(value)), invalid);
    for (const key of Object.keys(cm.binaryData ?? {})) {
      if (cm.data?.[key] !== undefined) invalid(`data[${key}]`, `Invalid value: ${JSON.stringify(key)}: duplicate of key present in binaryData`);
      if (!isBase64(cm.binaryData![key]!)) invalid(`binaryData[${key}]`, 'Invalid value: must be base64');
    }
  },
  validateUpdate: (current, next) => checkImmutableUpdate(current, next, fields),
};
