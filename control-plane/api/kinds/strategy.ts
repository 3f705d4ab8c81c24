// What the API knows about one kind, in one place: a kind's module (pod.ts, service.ts, ...)
// exports a KindStrategy, as each of Kubernetes' pkg/registry/*/strategy.go does, and
// api/resources.ts lists them. The generic machinery (api/validation.ts, apiserver/registry.ts,
// api/printers.ts, discovery) calls these hooks instead of branching on a kind's name; only a
// Service's address allocation stays in the registry, as it needs the store.
//
// The order in which the registry calls the hooks:
//   create:  schema defaults, defaults → validate → prepareForCreate → store
//   update:  prepareForUpdate → schema defaults, defaults → validate → validateUpdate → store
//   delete:  gracePeriodSeconds → prepareForDelete → store (kept while !readyToRemove)
import type { TSchema } from '@sinclair/typebox';
import type { KubeObject } from '../meta.ts';
import type { PrinterColumn } from './columns.ts';
import type { Invalid } from './checks.ts';

export type Subresource = 'status' | 'scale' | 'binding' | 'log' | 'eviction';

/** A kind's entry in the resource table: its routes, discovery, storage and CLI names. */
export interface ResourceType {
  group: string; // '' for the core group
  version: string;
  kind: string;
  plural: string;
  singular: string;
  namespaced: boolean;
  shortNames: string[];
  /** Discovery's categories: `kubectl get all` lists the kinds in `all`. */
  categories: string[];
  schema: TSchema;
  subresources: Subresource[];
  /** Leases are heartbeats: kept in memory so an idle lab does not wear out an SD card. */
  storage: 'disk' | 'memory';
  /** Whether `spec` changes bump metadata.generation (kinds with a spec). */
  hasSpec: boolean;
}

/** A resource-table entry with the usual values for what it leaves out. */
export function resource(r: Omit<ResourceType, 'singular' | 'storage' | 'hasSpec' | 'subresources' | 'categories'> &
  Partial<Pick<ResourceType, 'storage' | 'hasSpec' | 'subresources' | 'categories'>>): ResourceType {
  return { singular: r.kind.toLowerCase(), storage: 'disk', hasSpec: true, subresources: [], categories: [], ...r };
}

export interface KindStrategy {
  readonly resource: ResourceType;
  /** Its name must be a DNS-1123 label (it becomes part of a DNS name), not only a subdomain. */
  readonly nameIsDnsLabel?: boolean;
  /** The columns `kubectl get` prints (Kubernetes' table convertor); NAME and AGE without them. */
  readonly columns?: PrinterColumn[];
  /** Defaults that depend on other fields, after the schema's own. Runs before validation, so it must not trust shapes. */
  defaults?(obj: KubeObject): void;
  /** The checks a schema cannot express, on an object the schema has vouched for (Validate). */
  validate?(obj: KubeObject, invalid: Invalid): void;
  /** The status (and server-owned spec) a new object starts with. Without it: an empty status when the kind has one. */
  prepareForCreate?(obj: KubeObject, now: string): void;
  /** What a write to the main resource keeps from the stored object, beyond status and server-owned metadata. */
  prepareForUpdate?(current: KubeObject, next: KubeObject): void;
  /** Throws when an update changes what the kind fixes at creation (ValidateUpdate); runs after validate. */
  validateUpdate?(current: KubeObject, next: KubeObject): void;
  /** The grace period a delete waits for (CheckGracefulDelete); without it, none. */
  gracePeriodSeconds?(obj: KubeObject, requested: number | undefined): number;
  /** Throws to refuse a delete, or marks the object being deleted (`next` is the stored copy to write). */
  prepareForDelete?(next: KubeObject): void;
  /** Whether a deleted object with no finalizers left may go; without it, yes. */
  readyToRemove?(obj: KubeObject): boolean;
}
