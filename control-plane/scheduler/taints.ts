// Taints and tolerations, with Kubernetes' matching rules (k8s.io/api/core/v1/toleration.go).
// The scheduler filters on them; the node lifecycle controller evicts by them.
import type { Taint, Toleration } from '../api/core.ts';

/** Whether one toleration tolerates one taint: same effect (or any), same key (or any), value rule. */
export function toleratesTaint(toleration: Toleration, taint: Taint): boolean {
  if (toleration.effect && toleration.effect !== taint.effect) return false;
  if (toleration.key && toleration.key !== taint.key) return false;
  // An empty key with Exists tolerates everything; an empty key with Equal is invalid upstream.
  if (!toleration.key && toleration.operator !== 'Exists') return false;
  if (toleration.operator === 'Exists') return true;
  return (toleration.value ?? '') === (taint.value ?? '');
}

export const isTolerated = (tolerations: readonly Toleration[] | undefined, taint: Taint): boolean =>
  (tolerations ?? []).some((t) => toleratesTaint(t, taint));

/** The first taint with one of `effects` that no toleration tolerates. */
export function firstUntolerated(taints: readonly Taint[] | undefined, tolerations: readonly Toleration[] | undefined,
  effects: readonly Taint['effect'][]): Taint | undefined {
  return (taints ?? []).find((taint) => effects.includes(taint.effect) && !isTolerated(tolerations, taint));
}

export const taintText = (taint: Taint): string => `{${taint.key}: ${taint.value ?? ''}}`;
