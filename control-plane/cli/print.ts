// Output for people and for scripts: aligned tables with kubectl's columns (from
// api/printers.ts), and -o yaml|json|name. Colour only when stdout is a terminal.
import { stringify } from 'yaml';
import type { KubeObject } from '../api/meta.ts';
import { printerColumns } from '../api/printers.ts';
import { apiVersionOf, type ResourceType } from '../api/resources.ts';
import { kindName, UsageError } from './context.ts';

export type OutputFormat = 'table' | 'wide' | 'yaml' | 'json' | 'name';

export function outputFormat(value: string | undefined): OutputFormat {
  if (value === undefined || value === '') return 'table';
  if (['wide', 'yaml', 'json', 'name'].includes(value)) return value as OutputFormat;
  throw new UsageError(`unable to match a printer suitable for the output format "${value}", allowed formats are: json,name,wide,yaml`);
}

export function columnWidths(rows: string[][]): number[] {
  const w: number[] = [];
  for (const cells of rows) cells.forEach((c, i) => { w[i] = Math.max(w[i] ?? 0, visibleLength(c)); });
  return w;
}

const ansi = /\x1b\[[0-9;]*m/g;
const visibleLength = (s: string) => s.replace(ansi, '').length;

export const useColour = (stream: NodeJS.WritableStream): boolean =>
  (stream as { isTTY?: boolean }).isTTY === true && !process.env.NO_COLOR && process.env.TERM !== 'dumb';

const colours = { red: 31, green: 32, yellow: 33, dim: 2 } as const;
export const paint = (on: boolean, colour: keyof typeof colours, text: string) => (on ? `\x1b[${colours[colour]}m${text}\x1b[0m` : text);

/** Status words in a colour that says how they are doing; padding is applied to the plain text. */
function colourStatus(text: string): keyof typeof colours | undefined {
  if (/^(Running|Ready|Active|Completed|Succeeded|Normal)$/.test(text)) return 'green';
  if (/^(Pending|ContainerCreating|Terminating|PodInitializing|Unknown)|SchedulingDisabled/.test(text)) return 'yellow';
  if (/Err|BackOff|Failed|NotReady|Warning|OOMKilled|Error|Evicted/.test(text)) return 'red';
  return undefined;
}

export interface TableOptions { wide?: boolean; withNamespace?: boolean; withKind?: ResourceType; colour?: boolean; now?: number; noHeaders?: boolean }

/** Header and rows of objects of one kind, as `kubectl get` shows them. */
export function objectTable(r: ResourceType, objects: KubeObject[], options: TableOptions = {}): { header: string[]; rows: string[][] } {
  const now = options.now ?? Date.now();
  const columns = printerColumns(r.kind).filter((c) => c.priority === 0 || options.wide);
  const header = [...(options.withNamespace ? ['NAMESPACE'] : []), ...columns.map((c) => c.name.toUpperCase())];
  const statusAt = columns.findIndex((c) => c.name === 'Status' || c.name === 'Type');
  const rows = objects.map((o) => {
    const cells = columns.map((c) => String(c.cell(o, now)));
    if (options.withKind) {
      const nameAt = columns.findIndex((c) => c.format === 'name');
      if (nameAt >= 0) cells[nameAt] = `${kindName(options.withKind)}/${cells[nameAt]}`;
    }
    if (options.colour && statusAt >= 0) {
      const colour = colourStatus(cells[statusAt]!);
      if (colour) cells[statusAt] = paint(true, colour, cells[statusAt]!);
    }
    return [...(options.withNamespace ? [o.metadata.namespace ?? ''] : []), ...cells];
  });
  return { header, rows };
}

/** Pads a row that may contain colour codes, so colour does not break alignment. */
export function renderRows(header: string[] | undefined, rows: string[][]): string {
  const widths = columnWidths(header ? [header, ...rows] : rows);
  const pad = (c: string, i: number, last: boolean) => (last ? c : c + ' '.repeat(Math.max(0, (widths[i] ?? 0) - visibleLength(c))));
  return (header ? [header, ...rows] : rows).map((cells) => cells.map((c, i) => pad(c, i, i === cells.length - 1)).join('   ')).join('\n');
}

/** What the API returned, without the fields kubectl hides by default (managedFields). */
function forOutput(obj: KubeObject): KubeObject {
  if (!obj.metadata?.managedFields) return obj;
  const { managedFields: _hidden, ...metadata } = obj.metadata;
  return { ...obj, metadata };
}

export function formatObjects(format: 'yaml' | 'json' | 'name', r: ResourceType | undefined, objects: KubeObject[], single: boolean): string {
  if (format === 'name') return objects.map((o) => `${r ? kindName(r) : o.kind.toLowerCase()}/${o.metadata.name}`).join('\n');
  const data = single && objects.length === 1 ? forOutput(objects[0]!)
    : { apiVersion: 'v1', kind: 'List', items: objects.map(forOutput), metadata: { resourceVersion: '' } };
  return format === 'json' ? JSON.stringify(data, null, 4) : stringify(data).trimEnd();
}

export const objectRef = (r: ResourceType, name: string) => `${kindName(r)}/${name}`;
export const apiVersion = apiVersionOf;
