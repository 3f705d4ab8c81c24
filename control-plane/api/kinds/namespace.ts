// Namespace: its name is a DNS label; it is created with the `kubernetes` finalizer, which the
// namespace controller removes (through the finalize subresource) once the namespace is empty;
// deleting it marks it Terminating until then, and the system namespaces cannot be deleted.
import { ForbiddenError } from '../errors.ts';
import { Namespace } from '../core.ts';
import type { KubeObject } from '../meta.ts';
import { qualifiedNameError } from './checks.ts';
import { ageCol, col, nameCol } from './columns.ts';
import { resource, type KindStrategy } from './strategy.ts';

/** Namespaces that always exist. */
export const systemNamespaces = ['default', 'kube-system', 'kube-public', 'kube-node-lease'] as const;

/** Finalizers Kubernetes itself acts on, the only ones allowed without a `domain/` prefix. */
const standardFinalizers = new Set(['kubernetes', 'orphan', 'foregroundDeletion']);

const specFinalizers = (obj: KubeObject): string[] => (obj.spec as { finalizers?: string[] } | undefined)?.finalizers ?? [];

export const namespaceStrategy: KindStrategy = {
  resource: resource({ group: '', version: 'v1', kind: 'Namespace', plural: 'namespaces', namespaced: false, shortNames: ['ns'], schema: Namespace, subresources: ['status'] }),
  nameIsDnsLabel: true,
  columns: [
    nameCol,
    col('Status', (o) => (o.status as { phase?: string } | undefined)?.phase ?? 'Active', { description: 'The status of the namespace' }),
    ageCol,
  ],
  validate(obj, invalid) {
    for (const f of specFinalizers(obj)) {
      const err = qualifiedNameError(f) ?? (!f.includes('/') && !standardFinalizers.has(f) ? 'name is neither a standard finalizer name nor is it fully qualified' : undefined);
      if (err) invalid('spec.finalizers', `Invalid value: "${f}": ${err}`);
    }
  },
  prepareForCreate(obj) {
    obj.spec = { finalizers: ['kubernetes'] };
    obj.status = { phase: 'Active' };
  },
  // spec.finalizers changes only through the finalize subresource.
  prepareForUpdate(current, next) { next.spec = current.spec; },
  prepareForDelete(next) {
    const name = next.metadata.name!;
    if ((systemNamespaces as readonly string[]).includes(name)) {
      throw new ForbiddenError(`namespaces "${name}" is forbidden: this namespace may not be deleted`);
    }
    next.status = { ...(next.status as object), phase: 'Terminating' };
  },
  readyToRemove: (obj) => specFinalizers(obj).length === 0,
};
