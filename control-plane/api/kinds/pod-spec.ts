// The rules of a pod spec: Pod validates its own spec with them, and Deployment and ReplicaSet the
// one in their template (Kubernetes' ValidatePodSpec and SetDefaults_Container).
import type { Container, PodSpec, Toleration } from '../core.ts';
import { imageReferenceError } from '../image-reference.ts';
import { isQuantity, quantityValue } from '../quantity.ts';
import { labelErrors, nameError, portNameError, portOrNameError, qualifiedNameError, type Invalid } from './checks.ts';

/** The defaults of a pod spec that depend on other fields. */
export function podSpecDefaults(spec: unknown): void {
  const containers = (spec as { containers?: unknown } | undefined)?.containers;
  // Defaults run before validation: a `containers` that is not a list is the validator's to report.
  for (const c of (Array.isArray(containers) ? containers : []) as { image?: unknown; imagePullPolicy?: string }[]) {
    if (c && typeof c === 'object' && typeof c.image === 'string' && !c.imagePullPolicy) {
      // Kubernetes: Always for `:latest` or no tag, IfNotPresent for any other tag.
      const tag = /:([^/:@]+)$/.exec(c.image)?.[1];
      c.imagePullPolicy = !c.image.includes('@') && (tag === undefined || tag === 'latest') ? 'Always' : 'IfNotPresent';
    }
  }
}

const envVarName = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;

/** Container names, images, ports, env, resources and probes; node selector and tolerations. `at` is where the spec sits. */
export function podSpecErrors(spec: PodSpec | undefined, at: string, invalid: Invalid): void {
  if (!spec) return;
  const seen = new Set<string>();
  const hostPorts = new Set<string>();
  spec.containers.forEach((c, i) => {
    const here = `${at}.containers[${i}]`;
    const err = nameError(c.name, true);
    if (err) invalid(`${here}.name`, `Invalid value: "${c.name}": ${err}`);
    if (seen.has(c.name)) invalid(`${here}.name`, `Duplicate value: "${c.name}"`, 'FieldValueDuplicate');
    seen.add(c.name);
    const imageErr = imageReferenceError(c.image);
    if (imageErr) invalid(`${here}.image`, `Invalid value: "${c.image}": ${imageErr}`);
    (c.env ?? []).forEach((e, j) => {
      if (!envVarName.test(e.name)) {
        invalid(`${here}.env[${j}].name`, `Invalid value: "${e.name}": a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', and must not start with a digit`);
      }
    });
    const portNames = new Set<string>();
    (c.ports ?? []).forEach((p, j) => {
      if (p.name !== undefined) {
        const nameErr = portNameError(p.name);
        if (nameErr) invalid(`${here}.ports[${j}].name`, `Invalid value: "${p.name}": ${nameErr}`);
        if (portNames.has(p.name)) invalid(`${here}.ports[${j}].name`, `Duplicate value: "${p.name}"`, 'FieldValueDuplicate');
        portNames.add(p.name);
      }
      if (!p.hostPort) return;
      const key = `${p.protocol ?? 'TCP'}/${p.hostPort}`;
      if (hostPorts.has(key)) invalid(`${here}.ports[${j}].hostPort`, `Duplicate value: "${key}"`, 'FieldValueDuplicate');
      hostPorts.add(key);
    });
    resourceErrors(c.resources, `${here}.resources`, invalid);
    for (const probe of ['livenessProbe', 'readinessProbe', 'startupProbe'] as const) {
      const p = c[probe];
      if (!p) continue;
      for (const [handler, port] of [['httpGet', p.httpGet?.port], ['tcpSocket', p.tcpSocket?.port]] as const) {
        if (port === undefined) continue;
        const portErr = portOrNameError(port);
        if (portErr) invalid(`${here}.${probe}.${handler}.port`, `Invalid value: ${JSON.stringify(port)}: ${portErr}`);
      }
    }
  });
  labelErrors(spec.nodeSelector, `${at}.nodeSelector`, invalid);
  (spec.tolerations ?? []).forEach((t, i) => tolerationErrors(t, `${at}.tolerations[${i}]`, invalid));
}

function resourceErrors(resources: Container['resources'], at: string, invalid: Invalid): void {
  const parsed: Record<'limits' | 'requests', Map<string, number>> = { limits: new Map(), requests: new Map() };
  for (const kind of ['limits', 'requests'] as const) {
    for (const [name, q] of Object.entries(resources?.[kind] ?? {})) {
      const field = `${at}.${kind}[${name}]`;
      if (!isQuantity(q)) { invalid(field, `Invalid value: ${JSON.stringify(q)}: quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'`); continue; }
      const value = quantityValue(q);
      if (value < 0) { invalid(field, `Invalid value: ${JSON.stringify(q)}: must be greater than or equal to 0`); continue; }
      parsed[kind].set(name, value);
    }
  }
  for (const [name, request] of parsed.requests) {
    const limit = parsed.limits.get(name);
    if (limit !== undefined && request > limit) {
      invalid(`${at}.requests`, `Invalid value: "${String(resources!.requests![name])}": must be less than or equal to ${name} limit of ${String(resources!.limits![name])}`);
    }
  }
}

function tolerationErrors(t: Toleration, at: string, invalid: Invalid): void {
  if (t.key) {
    const err = qualifiedNameError(t.key);
    if (err) invalid(`${at}.key`, `Invalid value: "${t.key}": ${err}`);
  } else if (t.operator !== 'Exists') {
    invalid(`${at}.operator`, `Invalid value: "${t.operator ?? ''}": operator must be Exists when \`key\` is empty, which means "match all values and all keys"`);
  }
  if (t.operator === 'Exists' && t.value) {
    invalid(`${at}.operator`, 'Invalid value: "Exists": value must be empty when `operator` is \'Exists\'');
  }
  if (t.tolerationSeconds !== undefined && t.effect !== 'NoExecute') {
    invalid(`${at}.effect`, `Invalid value: "${t.effect ?? ''}": effect must be 'NoExecute' when \`tolerationSeconds\` is set`);
  }
}
