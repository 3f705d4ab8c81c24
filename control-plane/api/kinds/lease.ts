// Lease: a node's heartbeat and a controller's leader lock, renewed every few seconds; kept in
// memory, so an idle lab does not wear out an SD card.
import { Lease } from '../coordination.ts';
import type { Invalid } from './checks.ts';
import { ageCol, col, nameCol } from './columns.ts';
import { resource, type KindStrategy } from './strategy.ts';

// Kubernetes' MicroTime: RFC 3339 with up to microsecond (labkube accepts nanosecond) fractions.
const microTime = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;
function leaseErrors(spec: Lease['spec'], invalid: Invalid): void {
  for (const field of ['acquireTime', 'renewTime'] as const) {
    const t = spec?.[field];
    if (t !== undefined && (!microTime.test(t) || Number.isNaN(Date.parse(t)))) {
      invalid(`spec.${field}`, `Invalid value: "${t}": must be an RFC 3339 time, e.g. 2006-01-02T15:04:05.000000Z`);
    }
  }
}

export const leaseStrategy: KindStrategy = {
  resource: resource({ group: 'coordination.k8s.io', version: 'v1', kind: 'Lease', plural: 'leases', namespaced: true, shortNames: [], schema: Lease, storage: 'memory' }),
  columns: [
    nameCol,
    col('Holder', (o) => (o.spec as { holderIdentity?: string } | undefined)?.holderIdentity ?? '', { description: 'The holder of the lease' }),
    ageCol,
  ],
  validate: (obj, invalid) => leaseErrors(obj.spec as Lease['spec'], invalid),
};
