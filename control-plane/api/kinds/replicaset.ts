// ReplicaSet: keeps a number of pods from its template running, by the replica-set controller.
import { ReplicaSet } from '../apps.ts';
import { ageCol, col, nameCol } from './columns.ts';
import { resource, type KindStrategy } from './strategy.ts';
import { desiredReplicas, templateColumns, templateDefaults, templateErrors, workload } from './workload.ts';

export const replicaSetStrategy: KindStrategy = {
  resource: resource({ group: 'apps', version: 'v1', kind: 'ReplicaSet', plural: 'replicasets', namespaced: true, shortNames: ['rs'], categories: ['all'], schema: ReplicaSet,
    subresources: ['status', 'scale'] }),
  columns: [
    nameCol,
    col('Desired', desiredReplicas, { type: 'integer', description: 'Number of desired pods.' }),
    col('Current', (o) => workload(o).status?.replicas ?? 0, { type: 'integer', description: 'Number of actual replicas.' }),
    col('Ready', (o) => workload(o).status?.readyReplicas ?? 0, { type: 'integer', description: 'The number of ready replicas for this replica set.' }),
    ageCol,
    ...templateColumns,
  ],
  defaults: templateDefaults,
  validate: (obj, invalid) => templateErrors('ReplicaSet', obj, invalid),
};
