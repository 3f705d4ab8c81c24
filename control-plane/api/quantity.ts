// Kubernetes resource quantities (k8s.io/apimachinery/pkg/api/resource): a decimal number with an
// optional suffix: binary (Ki Mi Gi Ti Pi Ei), decimal SI (n u m k M G T P E) or an exponent
// (`1e3`, `5E-2`). `100m` is a tenth of a CPU, `128Mi` is 134217728 bytes, a bare `0.5` is half.
import { BadRequestError } from './errors.ts';

const binarySuffixes: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60 };
const decimalSuffixes: Record<string, number> = { n: -9, u: -6, m: -3, '': 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };

const pattern = /^([+-]?)(\d*)(?:\.(\d*))?(?:(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)|[eE]([+-]?\d+))?$/;

/** A parsed quantity: `digits × 10^exponent × binary`, kept apart so millis are exact. */
interface Parsed { negative: boolean; digits: number; exponent: number; binary: number }

function parse(q: string | number): Parsed {
  if (typeof q === 'number') {
    if (!Number.isFinite(q)) throw invalid(String(q));
    return parse(String(q).replace(/e\+?/, 'e'));
  }
  const m = pattern.exec(q.trim());
  if (!m || (m[2] === '' && (m[3] ?? '') === '')) throw invalid(q);
  const whole = m[2]!;
  const fraction = m[3] ?? '';
  const digits = Number((whole + fraction).replace(/^0+(?=\d)/, '') || '0');
  if (!Number.isSafeInteger(digits)) throw invalid(q);
  const suffix = m[4];
  let exponent = -fraction.length;
  let binary = 1;
  if (suffix !== undefined && suffix in binarySuffixes) binary = binarySuffixes[suffix]!;
  else if (suffix !== undefined) exponent += decimalSuffixes[suffix]!;
  else if (m[5] !== undefined) exponent += Number(m[5]);
  return { negative: m[1] === '-', digits, exponent, binary };
}

function invalid(q: string): BadRequestError {
  return new BadRequestError(`quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$': "${q}"`);
}

/** `digits × 10^exp × binary`, rounded up to a whole number as Kubernetes' Value() does. */
function scaled(p: Parsed, extraExponent: number): number {
  const exp = p.exponent + extraExponent;
  let magnitude = p.digits * 10 ** exp * p.binary;
  if (exp < 0) {
    // Division by a power of ten is inexact in floating point: treat a hair off a whole number as it.
    const exact = (p.digits * p.binary) / 10 ** -exp;
    const whole = Math.round(exact);
    magnitude = Math.abs(exact - whole) <= 1e-9 * Math.max(1, whole) ? whole : Math.ceil(exact);
  }
  return p.negative ? -magnitude : magnitude;
}

/** The quantity in thousandths, rounded up: CPU in millicores (`0.5` and `500m` are both 500). */
export function milliValue(q: string | number): number { return scaled(parse(q), 3); }

/** The quantity as a whole number, rounded up: memory in bytes, pod counts. */
export function intValue(q: string | number): number { return scaled(parse(q), 0); }

/** The exact value as a float, for display and comparisons that need no rounding. */
export function quantityValue(q: string | number): number {
  const p = parse(q);
  const v = p.digits * 10 ** p.exponent * p.binary;
  return p.negative ? -v : v;
}

/** Whether `q` parses; the scheduler treats an unparseable request as zero rather than crash. */
export function isQuantity(q: unknown): q is string | number {
  if (typeof q !== 'string' && typeof q !== 'number') return false;
  try { parse(q); return true; } catch { return false; }
}
