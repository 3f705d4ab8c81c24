// The building blocks of `kubectl get` columns (Kubernetes' pkg/printers): a column, its cell,
// and the formats several kinds share. Each kind's module lists its own columns from these.
import type { KubeObject } from '../meta.ts';

export interface PrinterColumn {
  /** As Kubernetes names it ("Nominated Node"); printers upper-case it for the header. */
  name: string;
  type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  format: '' | 'name' | 'date';
  /** 0: always shown; 1: only with `-o wide`. */
  priority: 0 | 1;
  description: string;
  cell: (obj: KubeObject, now: number) => string | number;
}

export const col = (name: string, cell: PrinterColumn['cell'], options: Partial<Omit<PrinterColumn, 'name' | 'cell'>> = {}): PrinterColumn =>
  ({ name, type: 'string', format: '', priority: 0, description: name, cell, ...options });
export const wide = (name: string, cell: PrinterColumn['cell']) => col(name, cell, { priority: 1 });

/** Kubernetes' HumanDuration: 45s, 3m20s, 12m, 5h30m, 12h, 3d4h, 30d, 2y100d. */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  const with2 = (big: number, bigUnit: string, small: number, smallUnit: string) => (small === 0 ? `${big}${bigUnit}` : `${big}${bigUnit}${small}${smallUnit}`);
  if (minutes < 10) return with2(minutes, 'm', seconds % 60, 's');
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 8) return with2(hours, 'h', minutes % 60, 'm');
  if (hours < 48) return `${hours}h`;
  const days = Math.floor(hours / 24);
  if (hours < 24 * 8) return with2(days, 'd', hours % 24, 'h');
  if (hours < 24 * 365 * 2) return `${days}d`;
  if (hours < 24 * 365 * 8) return with2(Math.floor(days / 365), 'y', days % 365, 'd');
  return `${Math.floor(days / 365)}y`;
}

/** The time since a timestamp as kubectl prints it; `<unknown>` when there is none. */
export function age(since: string | null | undefined, now = Date.now()): string {
  if (!since) return '<unknown>';
  return humanDuration(now - Date.parse(since));
}

export const none = (v: string | undefined | null) => (v === undefined || v === null || v === '' ? '<none>' : v);
export const nameCol = col('Name', (o) => o.metadata.name ?? '', { format: 'name', description: 'Name must be unique within a namespace.' });
export const ageCol = col('Age', (o, now) => age(o.metadata.creationTimestamp, now), { description: 'CreationTimestamp is a timestamp representing the server time when this object was created.' });

/** Kubernetes' labels.FormatLabels: `a=1,b=2` sorted by key, `<none>` when empty. */
export function formatLabels(m: Record<string, string> | undefined): string {
  const keys = Object.keys(m ?? {}).sort();
  return keys.length ? keys.map((k) => `${k}=${m![k]}`).join(',') : '<none>';
}

/** `ip:port` with IPv6 in brackets, as Go's net.JoinHostPort. */
export const joinHostPort = (ip: string, port: number | string) => (ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`);

/** kubectl's listWithMoreString: the first three, then ` + N more...`. */
export function listWithMore(list: string[], count: number, max: number, empty: string): string {
  const text = list.join(',');
  if (count > max) return `${text} + ${count - max} more...`;
  return text === '' ? empty : text;
}
