// Deployment: a pod template rolled out through ReplicaSets, by the deployment controller, as its
// strategy says (Recreate, or RollingUpdate within maxSurge and maxUnavailable).
import { Deployment } from '../apps.ts';
import { intOrPercentError, percentValue, type Invalid } from './checks.ts';
import { ageCol, col, nameCol } from './columns.ts';
import { resource, type KindStrategy } from './strategy.ts';
import { desiredReplicas, templateColumns, templateDefaults, templateErrors, workload } from './workload.ts';

const isZero = (v: number | string | undefined) => v !== undefined && (v === 0 || (typeof v === 'string' && /^0+%$/.test(v)));

function strategyErrors(strategy: Deployment['spec']['strategy'], invalid: Invalid): void {
  const rolling = strategy?.rollingUpdate;
  if (!rolling) return;
  if (strategy?.type === 'Recreate') {
    invalid('spec.strategy.rollingUpdate', "Forbidden: may not be specified when strategy `type` is 'Recreate'", 'FieldValueForbidden');
    return;
  }
  const { maxSurge, maxUnavailable } = rolling;
  for (const [field, value] of [['maxSurge', maxSurge], ['maxUnavailable', maxUnavailable]] as const) {
    if (value === undefined) continue;
    const err = intOrPercentError(value);
    if (err) invalid(`spec.strategy.rollingUpdate.${field}`, `Invalid value: ${JSON.stringify(value)}: ${err}`);
  }
  if (typeof maxUnavailable === 'string' && (percentValue(maxUnavailable) ?? 0) > 100) {
    invalid('spec.strategy.rollingUpdate.maxUnavailable', `Invalid value: "${maxUnavailable}": must not be greater than 100%`);
  }
  if (isZero(maxSurge) && isZero(maxUnavailable)) {
    invalid('spec.strategy.rollingUpdate.maxUnavailable', 'Invalid value: may not be 0 when `maxSurge` is 0');
  }
}

export const deploymentStrategy: KindStrategy = {
  resource: resource({ group: 'apps', version: 'v1', kind: 'Deployment', plural: 'deployments', namespaced: true, shortNames: ['deploy'], categories: ['all'], schema: Deployment,
    subresources: ['status', 'scale'] }),
  columns: [
    nameCol,
    col('Ready', (o) => `${workload(o).status?.readyReplicas ?? 0}/${desiredReplicas(o)}`, { description: 'Number of the pod with ready state' }),
    col('Up-to-date', (o) => workload(o).status?.updatedReplicas ?? 0, { type: 'integer', description: 'Total number of non-terminated pods targeted by this deployment that have the desired template spec.' }),
    col('Available', (o) => workload(o).status?.availableReplicas ?? 0, { type: 'integer', description: 'Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.' }),
    ageCol,
    ...templateColumns,
  ],
  defaults: templateDefaults,
  validate(obj, invalid) {
    templateErrors('Deployment', obj, invalid);
    strategyErrors((obj.spec as Deployment['spec'] | undefined)?.strategy, invalid);
  },
};
