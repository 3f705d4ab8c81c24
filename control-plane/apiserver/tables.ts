// meta.k8s.io/v1 Table responses: what `kubectl get` asks for (Accept: ...;as=Table) so that it
// prints the server's columns. Each kind's columns are the ones kubectl shows for Kubernetes.
import type { KubeList, KubeObject } from '../api/meta.ts';
import type { ResourceType } from '../api/resources.ts';

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

/** Kubernetes' short age format: 45s, 12m, 3h, 2d, 1y. */
export function age(since: string | null | undefined, now = Date.now()): string {
  if (!since) return '<unknown>';
  const s = Math.max(0, Math.floor((now - Date.parse(since)) / 1000));
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return `${m}m${s % 60 ? `${s % 60}s` : ''}`;
  if (m < 180) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h`;
  const d = Math.floor(h / 24);
  return d < 365 * 2 ? `${d}d` : `${Math.floor(d / 365)}y`;
}

interface Column { def: ColumnDefinition; cell: (obj: KubeObject) => unknown }

const column = (name: string, cell: (obj: KubeObject) => unknown, priority = 0, type = 'string', format = ''): Column =>
  ({ def: { name, type, format, description: name, priority }, cell });

const nameColumn = column('Name', (o) => o.metadata.name, 0, 'string', 'name');
const ageColumn = column('Age', (o) => age(o.metadata.creationTimestamp), 0, 'string', 'date');

/** Columns per kind; a kind not listed gets NAME and AGE. */
const columnsByKind: Record<string, Column[]> = {};

function columnsFor(kind: string): Column[] {
  return columnsByKind[kind] ?? [nameColumn, ageColumn];
}

function rowObject(obj: KubeObject, include: IncludeObject): unknown {
  if (include === 'None') return undefined;
  if (include === 'Object') return obj;
  return { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: obj.metadata };
}

export function toTable(r: ResourceType, data: KubeObject | KubeList, include: IncludeObject = 'Metadata', withColumns = true): Table {
  const items = 'items' in data && Array.isArray(data.items) ? data.items : [data as KubeObject];
  const columns = columnsFor(r.kind);
  const meta = 'items' in data ? (data as KubeList).metadata : { resourceVersion: (data as KubeObject).metadata.resourceVersion };
  return {
    kind: 'Table', apiVersion: 'meta.k8s.io/v1',
    metadata: { ...(meta.resourceVersion && { resourceVersion: meta.resourceVersion }), ...('continue' in meta && meta.continue && { continue: meta.continue }) },
    columnDefinitions: withColumns ? columns.map((c) => c.def) : [],
    rows: items.map((obj) => ({ cells: columns.map((c) => c.cell(obj) ?? '<none>'), object: rowObject(obj, include) })),
  };
}
