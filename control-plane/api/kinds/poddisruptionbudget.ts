// PodDisruptionBudget: how many of a set of pods may be down at once, which evictions respect
// (apiserver/eviction.ts); the disruption controller writes how many disruptions are allowed.
import { PodDisruptionBudget } from '../policy.ts';
import type { KubeObject } from '../meta.ts';
import { intOrPercentError, labelErrors, percentValue, type Invalid } from './checks.ts';
import { ageCol, col, nameCol } from './columns.ts';
import { resource, type KindStrategy } from './strategy.ts';

/** ValidatePodDisruptionBudgetSpec: one of minAvailable and maxUnavailable, each a count or a percentage up to 100%. */
function budgetErrors(spec: PodDisruptionBudget['spec'], invalid: Invalid): void {
  if (!spec) return;
  if (spec.minAvailable !== undefined && spec.maxUnavailable !== undefined) {
    invalid('spec.minAvailable', 'Invalid value: minAvailable and maxUnavailable cannot be both set');
  }
  for (const [field, value] of [['minAvailable', spec.minAvailable], ['maxUnavailable', spec.maxUnavailable]] as const) {
    if (value === undefined) continue;
    const err = intOrPercentError(value);
    if (err) invalid(`spec.${field}`, `Invalid value: ${JSON.stringify(value)}: ${err}`);
    else if (typeof value === 'string' && percentValue(value)! > 100) invalid(`spec.${field}`, `Invalid value: "${value}": must be no greater than 100%`);
  }
  if (spec.selector) labelErrors(spec.selector.matchLabels, 'spec.selector.matchLabels', invalid);
}

// kubectl's columns for a PodDisruptionBudget: MIN AVAILABLE, MAX UNAVAILABLE, ALLOWED DISRUPTIONS.
interface BudgetView { spec?: { minAvailable?: number | string; maxUnavailable?: number | string }; status?: { disruptionsAllowed?: number } }
const budget = (o: KubeObject) => o as unknown as BudgetView;

export const podDisruptionBudgetStrategy: KindStrategy = {
  resource: resource({ group: 'policy', version: 'v1', kind: 'PodDisruptionBudget', plural: 'poddisruptionbudgets', namespaced: true, shortNames: ['pdb'], schema: PodDisruptionBudget, subresources: ['status'] }),
  columns: [
    nameCol,
    col('Min Available', (o) => String(budget(o).spec?.minAvailable ?? 'N/A'), { description: 'The minimum number of pods that must be available' }),
    col('Max Unavailable', (o) => String(budget(o).spec?.maxUnavailable ?? 'N/A'), { description: 'The maximum number of pods that may be unavailable' }),
    col('Allowed Disruptions', (o) => budget(o).status?.disruptionsAllowed ?? 0, { type: 'integer', description: 'Calculated number of pods that may be disrupted at this time' }),
    ageCol,
  ],
  validate: (obj, invalid) => budgetErrors(obj.spec as PodDisruptionBudget['spec'], invalid),
};
