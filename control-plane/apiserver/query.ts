// Query parameters read as Kubernetes' parameter codec reads them (runtime/conversion.go): the
// first value of a repeated parameter wins, a boolean is false only for "0", "f" or "false" (any
// case), an integer is a base-10 int64, and anything that does not convert is a 400. Options are
// then validated as the apiserver's handlers do (dryRun: only "All", as a 422 Invalid).
import { BadRequestError, InvalidError } from '../api/errors.ts';

export type Query = Record<string, string | string[] | undefined>;

const all = (q: Query, name: string): string[] => {
  const v = q[name];
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
};

export function param(q: Query, name: string): string | undefined {
  return all(q, name)[0];
}

export function boolParam(q: Query, name: string): boolean {
  const v = param(q, name);
  if (v === undefined) return false;
  return !['0', 'f', 'false'].includes(v.toLowerCase());
}

/**
 * An integer parameter: base-10 digits only (no `1e3`, `0x10`, `1.5`), within [min, max].
 * Bounds default to what JSON numbers hold exactly; int64 values past that are refused rather
 * than rounded.
 */
export function intParam(q: Query, name: string, min = -Number.MAX_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER): number | undefined {
  const v = param(q, name);
  if (v === undefined) return undefined;
  if (!/^[-+]?\d{1,19}$/.test(v)) throw new BadRequestError(`${name}: invalid value "${v}": must be an integer`);
  const n = Number(v);
  if (n < min || n > max) throw new BadRequestError(`${name}: invalid value "${v}": must be between ${min} and ${max}`);
  return n;
}

/** `dryRun=All` (repeatable); any other value is refused, as Kubernetes' ValidateDryRun does. */
export function dryRunParam(q: Query, optionsKind: string): boolean {
  const values = all(q, 'dryRun');
  checkDryRun(values, optionsKind);
  return values.length > 0;
}

export function checkDryRun(values: unknown[], optionsKind: string): void {
  if (values.every((v) => v === 'All')) return;
  throw new InvalidError(optionsKind, '', [{
    reason: 'FieldValueNotSupported', field: 'dryRun',
    message: `Unsupported value: ${JSON.stringify(values)}: supported values: "All"`,
  }]);
}

/**
 * A resourceVersion as the storage layer parses it: empty (none), or a base-10 uint64. A
 * revision is a safe integer here; a larger one can only be a client's invention.
 */
export function resourceVersionParam(q: Query): number | undefined {
  const v = param(q, 'resourceVersion');
  if (v === undefined || v === '') return undefined;
  const n = /^\d{1,20}$/.test(v) ? Number(v) : Number.NaN;
  if (!Number.isSafeInteger(n)) throw new BadRequestError(`invalid resource version "${v}": must be a non-negative integer`);
  return n;
}

export interface ListOptions {
  limit?: number;
  timeoutSeconds?: number;
  resourceVersion?: number;
  resourceVersionMatch?: 'Exact' | 'NotOlderThan';
  continue?: string;
}

/**
 * ListOptions for a list or a watch, decoded and then validated as Kubernetes'
 * ValidateListOptions does (a 422 Invalid for options that do not fit together).
 * labkube has no WatchList feature, so `sendInitialEvents` is refused as Kubernetes refuses it
 * with that feature gate off.
 */
export function listOptions(q: Query, watch: boolean): ListOptions {
  const limit = intParam(q, 'limit', 0);
  const timeoutSeconds = intParam(q, 'timeoutSeconds', 0);
  const resourceVersion = resourceVersionParam(q);
  const rvText = param(q, 'resourceVersion') ?? '';
  const match = param(q, 'resourceVersionMatch') ?? '';
  const cont = param(q, 'continue') ?? '';
  if (cont !== '' && !/^[A-Za-z0-9_-]+={0,2}$/.test(cont)) throw new BadRequestError('invalid continue token: it is not one this server handed out');
  const causes: { reason: string; message: string; field: string }[] = [];
  const forbid = (field: string, message: string) => causes.push({ reason: 'FieldValueForbidden', field, message: `Forbidden: ${message}` });
  if (param(q, 'sendInitialEvents') !== undefined) {
    forbid('sendInitialEvents', watch ? 'sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled' : 'sendInitialEvents is forbidden for list');
  }
  if (match !== '') {
    const allowed = watch ? ['NotOlderThan'] : ['Exact', 'NotOlderThan'];
    if (!allowed.includes(match)) {
      causes.push({ reason: 'FieldValueNotSupported', field: 'resourceVersionMatch', message: `Unsupported value: ${JSON.stringify(match)}: supported values: ${allowed.map((v) => `"${v}"`).join(', ')}` });
    }
    if (watch) forbid('resourceVersionMatch', 'resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided');
    else if (rvText === '') forbid('resourceVersionMatch', 'resourceVersionMatch is forbidden unless resourceVersion is provided');
    if (cont !== '') forbid('resourceVersionMatch', 'resourceVersionMatch is forbidden when continue is provided');
    if (match === 'Exact' && rvText === '0') forbid('resourceVersionMatch', 'resourceVersionMatch "exact" is forbidden for resourceVersion "0"');
  }
  if (causes.length > 0) throw new InvalidError('ListOptions', '', causes);
  return {
    ...(limit !== undefined && { limit }),
    ...(timeoutSeconds !== undefined && { timeoutSeconds }),
    ...(resourceVersion !== undefined && { resourceVersion }),
    ...(match !== '' && { resourceVersionMatch: match as 'Exact' | 'NotOlderThan' }),
    ...(cont !== '' && { continue: cont }),
  };
}

/** fieldValidation on a write: Ignore, Warn or Strict (labkube warns for Strict too: see app.ts). */
export function checkFieldValidation(q: Query, optionsKind: string): void {
  const v = param(q, 'fieldValidation');
  if (v === undefined || v === '' || v === 'Ignore' || v === 'Warn' || v === 'Strict') return;
  throw new InvalidError(optionsKind, '', [{
    reason: 'FieldValueNotSupported', field: 'fieldValidation',
    message: `Unsupported value: ${JSON.stringify(v)}: supported values: "Ignore", "Strict", "Warn"`,
  }]);
}
