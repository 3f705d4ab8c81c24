// meta.k8s.io/v1 Table responses: what `kubectl get` asks for (Accept: ...;as=Table) so that it
// prints the server's columns. The columns and cells come from api/printers.ts, which labctl's
// tables use too.
import type { KubeList, KubeObject } from '../api/meta.ts';
import { printerColumns } from '../api/printers.ts';
import type { ResourceType } from '../api/resources.ts';

export { age } from '../api/printers.ts';

export interface ColumnDefinition { name: string; type: string; format: string; description: string; priority: number }
export interface TableRow { cells: unknown[]; object: unknown }
export interface Table {
  kind: 'Table';
  apiVersion: 'meta.k8s.io/v1';
  metadata: { resourceVersion?: string; continue?: string };
  columnDefinitions: ColumnDefinition[];
  rows: TableRow[];
}

/** Whether the Accept header asks for a Table (kubectl lists it first, with JSON as fallback). */
export function wantsTable(accept: string | undefined): boolean {
  return (accept ?? '').split(',').some((part) => /;\s*as=Table/.test(part) && /;\s*g=meta\.k8s\.io/.test(part));
}

export type IncludeObject = 'None' | 'Metadata' | 'Object';

function rowObject(obj: KubeObject, include: IncludeObject): unknown {
  if (include === 'None') return undefined;
  if (include === 'Object') return obj;
  return { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: obj.metadata };
}

export function toTable(r: ResourceType, data: KubeObject | KubeList, include: IncludeObject = 'Metadata', withColumns = true,
  now = Date.now()): Table {
  const items = 'items' in data && Array.isArray(data.items) ? data.items : [data as KubeObject];
  const columns = printerColumns(r.kind);
  const meta = 'items' in data ? (data as KubeList).metadata : { resourceVersion: (data as KubeObject).metadata.resourceVersion };
  return {
    kind: 'Table', apiVersion: 'meta.k8s.io/v1',
    metadata: { ...(meta.resourceVersion && { resourceVersion: meta.resourceVersion }), ...('continue' in meta && meta.continue && { continue: meta.continue }) },
    columnDefinitions: withColumns ? columns.map(({ name, type, format, description, priority }) => ({ name, type: type === 'date' ? 'string' : type, format, description, priority })) : [],
    rows: items.map((obj) => ({ cells: columns.map((c) => c.cell(obj, now)), object: rowObject(obj, include) })),
  };
}
