// The field checks that several kinds share (names, label keys and values, ports, counts or
// percentages), as Kubernetes' apimachinery validation helpers. A kind's module imports what it
// needs; the generic metadata checks in api/validation.ts use them too.

/** Reports one invalid field; `reason` is the StatusCause reason (FieldValueInvalid by default). */
export type Invalid = (field: string, message: string, reason?: string) => void;

const dns1123Label = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const dns1123Subdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/**
 * Returns why a name is invalid, or undefined. Namespaces and services need a DNS-1123 label.
 * With `prefix`, `name` is a generateName, which the random suffix completes.
 */
export function nameError(name: string, labelOnly: boolean, prefix = false): string | undefined {
  // Kubernetes masks a trailing '-'; labkube's event recorder also ends a prefix with '.'.
  const checked = prefix && name.length > 1 && /[-.]$/.test(name) ? `${name.slice(0, -1)}a` : name;
  if (labelOnly) {
    if (checked.length > 63) return 'must be no more than 63 characters';
    if (!dns1123Label.test(checked)) {
      return `a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name', or '123-abc')`;
    }
  } else {
    if (checked.length > 253) return 'must be no more than 253 characters';
    if (!dns1123Subdomain.test(checked)) {
      return `a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com')`;
    }
  }
  return undefined;
}

const qualifiedNamePart = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const labelValuePattern = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** Why `key` is not a label or annotation key (`[prefix/]name`), as Kubernetes' IsQualifiedName. */
export function qualifiedNameError(key: string): string | undefined {
  const parts = key.split('/');
  if (parts.length > 2) return 'a qualified name must consist of an optional DNS subdomain prefix and "/" and a name';
  const name = parts[parts.length - 1]!;
  if (parts.length === 2) {
    const prefix = parts[0]!;
    if (prefix.length === 0) return 'prefix part must be non-empty';
    if (prefix.length > 253 || !dns1123Subdomain.test(prefix)) return 'prefix part must be a lowercase RFC 1123 subdomain of at most 253 characters';
  }
  if (name.length === 0) return 'name part must be non-empty';
  if (name.length > 63) return 'name part must be no more than 63 characters';
  if (!qualifiedNamePart.test(name)) {
    return "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
  }
  return undefined;
}

/** Why `value` is not a label value, as Kubernetes' IsValidLabelValue. */
export function labelValueError(value: string): string | undefined {
  if (value.length > 63) return 'must be no more than 63 characters';
  if (!labelValuePattern.test(value)) {
    return "a valid label value must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
  }
  return undefined;
}

/** Labels, and anything that uses label syntax (selectors, node selectors). */
export function labelErrors(labels: Record<string, string> | undefined, at: string, invalid: Invalid): void {
  for (const [key, value] of Object.entries(labels ?? {})) {
    const keyErr = qualifiedNameError(key);
    if (keyErr) invalid(at, `Invalid value: "${key}": ${keyErr}`);
    const valueErr = labelValueError(value);
    if (valueErr) invalid(`${at}`, `Invalid value: "${value}": ${valueErr}`);
  }
}

const ianaServiceName = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;
/** Why `name` is not a port name (IANA_SVC_NAME: 15 characters, a letter, no `--`). */
export function portNameError(name: string): string | undefined {
  if (name.length > 15) return 'must be no more than 15 characters';
  if (!ianaServiceName.test(name)) return "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)";
  if (name.includes('--')) return "must not contain consecutive hyphens";
  if (!/[a-z]/.test(name)) return 'must contain at least one letter (a-z)';
  return undefined;
}

/** A port given as a number (1-65535) or as the name of a container port. */
export function portOrNameError(port: number | string): string | undefined {
  if (typeof port === 'number') return port >= 1 && port <= 65535 ? undefined : 'must be between 1 and 65535, inclusive';
  return portNameError(port);
}

const percent = /^(\d{1,10})%$/;

/** The percent points of a `N%` string, or undefined for anything else. */
export const percentValue = (value: string): number | undefined => {
  const m = percent.exec(value);
  return m ? Number(m[1]) : undefined;
};

/** maxSurge, maxUnavailable, minAvailable: a non-negative integer or a percentage. */
export function intOrPercentError(value: number | string): string | undefined {
  if (typeof value === 'number') return value < 0 ? 'must be greater than or equal to 0' : undefined;
  if (percentValue(value) === undefined) return 'a valid percent string must be a numeric string followed by an ending \'%\' (e.g. \'1%\',  or \'93%\')';
  return undefined;
}
