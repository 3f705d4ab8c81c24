// The columns `kubectl get` shows for each kind, and how each cell is computed from an object
// (Kubernetes' pkg/printers/internalversion). Written once: the API server's Table responses
// (what stock kubectl prints) and labctl's own tables both use these. Each kind's columns are in
// its strategy module (kinds/*.ts); the cell formats `labctl describe` reuses are exported here.
import { strategyForKind } from './resources.ts';
import { ageCol, nameCol, type PrinterColumn } from './kinds/columns.ts';

export { age, formatLabels, humanDuration, joinHostPort, type PrinterColumn } from './kinds/columns.ts';
export { formatEndpoints } from './kinds/endpoints.ts';
export { formatSliceEndpoints, formatSlicePorts } from './kinds/endpointslice.ts';
export { eventLastSeen } from './kinds/event.ts';
export { nodeRoles, nodeStatus } from './kinds/node.ts';
export { podSummary, type PodSummary } from './kinds/pod.ts';
export { servicePorts } from './kinds/service.ts';

/** The columns of a kind; a kind without its own gets NAME and AGE. */
export function printerColumns(kind: string): PrinterColumn[] {
  return strategyForKind(kind)?.columns ?? [nameCol, ageCol];
}
