// Kubernetes' protobuf wire format, read for request bodies: kubectl's typed clients send objects
// as `application/vnd.kubernetes.protobuf` (its `auth can-i` and `auth whoami` reviews always,
// and since kubectl 1.32 `create deployment|service|namespace|configmap|secret|pdb`, `drain`'s
// evictions and more). A body is the 4-byte magic "k8s\0" and a runtime.Unknown envelope whose
// `typeMeta` names the kind and whose `raw` holds the object's own message. The messages are
// Kubernetes' own generated.proto files (kube-protos.ts, vendored by
// scripts/vendor-kube-protos.mjs), parsed with protobufjs on the first such request. The result
// is the object's JSON form, which the rest of the server then treats as any JSON body.
import protobuf from 'protobufjs';
import { BadRequestError, UnsupportedMediaTypeError } from '../api/errors.ts';
import { kubeProtoSources } from './kube-protos.ts';

export const kubeProtobufType = 'application/vnd.kubernetes.protobuf';
const magic = Buffer.from([0x6b, 0x38, 0x73, 0x00]);

/** The proto package of each API group labkube reads protobuf for. */
const packages: Record<string, string> = {
  v1: 'k8s.io.api.core.v1',
  'apps/v1': 'k8s.io.api.apps.v1',
  'policy/v1': 'k8s.io.api.policy.v1',
  'discovery.k8s.io/v1': 'k8s.io.api.discovery.v1',
  'coordination.k8s.io/v1': 'k8s.io.api.coordination.v1',
  'authorization.k8s.io/v1': 'k8s.io.api.authorization.v1',
  'meta.k8s.io/v1': 'k8s.io.apimachinery.pkg.apis.meta.v1',
};
const meta = 'k8s.io.apimachinery.pkg.apis.meta.v1';

let root: protobuf.Root | undefined;
/** Parsing 76 KB of .proto costs tens of milliseconds: done once, when the first body needs it. */
function kubeRoot(): protobuf.Root {
  if (!root) {
    const r = new protobuf.Root();
    for (const source of kubeProtoSources) protobuf.parse(source.text, r, { keepCase: true });
    r.resolveAll();
    root = r;
  }
  return root;
}

/** Decodes a protobuf request body into the plain object its JSON form would have been. */
export function decodeKubeProtobuf(body: Buffer): Record<string, unknown> {
  if (body.length < magic.length || !body.subarray(0, magic.length).equals(magic)) {
    throw new BadRequestError('the protobuf body does not start with the Kubernetes magic number');
  }
  let envelope: { typeMeta?: { apiVersion?: string; kind?: string }; raw?: Uint8Array };
  try {
    envelope = kubeRoot().lookupType('k8s.io.apimachinery.pkg.runtime.Unknown').decode(body.subarray(magic.length)) as typeof envelope;
  } catch (err) {
    throw new BadRequestError(`the protobuf body could not be decoded: ${(err as Error).message}`);
  }
  const apiVersion = envelope.typeMeta?.apiVersion ?? '';
  const kind = envelope.typeMeta?.kind ?? '';
  const pkg = packages[apiVersion] ?? (kind === 'DeleteOptions' ? meta : undefined);
  const type = pkg && /^[A-Za-z]+$/.test(kind) ? kubeRoot().lookup(`${pkg}.${kind}`) : null;
  if (!(type instanceof protobuf.Type)) {
    throw new UnsupportedMediaTypeError(`labkube does not read ${JSON.stringify(kind)} in ${JSON.stringify(apiVersion)} as protobuf: send it as application/json`);
  }
  try {
    const decoded = type.toObject(type.decode(envelope.raw ?? new Uint8Array()), { defaults: false, longs: Number, bytes: String });
    return { apiVersion, kind, ...(jsonForm(decoded, type) as Record<string, unknown>) };
  } catch (err) {
    throw new BadRequestError(`the protobuf body could not be decoded as ${kind}: ${(err as Error).message}`);
  }
}

/**
 * Pointer fields of k8s.io/api whose zero is a choice the client made (`replicas: 0`, `runAsUser:
 * 0` for root, `enableServiceLinks: false`), not the absence of one.
 */
const meaningfulZeros = new Set([
  'replicas', 'terminationGracePeriodSeconds', 'activeDeadlineSeconds', 'revisionHistoryLimit', 'progressDeadlineSeconds',
  'runAsUser', 'runAsGroup', 'fsGroup', 'runAsNonRoot', 'privileged', 'allowPrivilegeEscalation', 'readOnlyRootFilesystem',
  'automountServiceAccountToken', 'enableServiceLinks', 'shareProcessNamespace', 'setHostnameAsFQDN', 'hostUsers',
  'defaultMode', 'mode', 'optional', 'immutable', 'backoffLimit', 'parallelism', 'completions', 'ttlSecondsAfterFinished',
  'allocateLoadBalancerNodePorts', 'ready', 'serving', 'terminating', 'leaseDurationSeconds', 'leaseTransitions',
  'gracePeriodSeconds', 'expirationSeconds', 'priority',
]);

/**
 * A decoded message as its JSON form: times, quantities and int-or-strings are scalars in JSON.
 * Go writes every non-pointer field to protobuf, zero or not, where its JSON encoder leaves a
 * zero out (`omitempty`; a zero time is null): zeros (`""`, 0, false, a zero time) are left out
 * here too, so that `namespace: ""`, `hostPort: 0` or `tty: false` do not arrive as values,
 * except in the pointer fields above, where a zero is the client's.
 */
function jsonForm(value: unknown, type: protobuf.Type): unknown {
  const v = value as Record<string, unknown>;
  switch (type.fullName) {
    case `.${meta}.Time`: return zeroTime(v) ? undefined : timeString(v, false);
    case `.${meta}.MicroTime`: return zeroTime(v) ? undefined : timeString(v, true);
    case '.k8s.io.apimachinery.pkg.api.resource.Quantity': return v.string ?? '0';
    case '.k8s.io.apimachinery.pkg.util.intstr.IntOrString': return v.type === 1 ? (v.strVal ?? '') : (v.intVal ?? 0);
    case '.k8s.io.apimachinery.pkg.runtime.RawExtension':
      return typeof v.raw === 'string' && v.raw ? JSON.parse(Buffer.from(v.raw, 'base64').toString('utf8')) : {};
    default: break;
  }
  const out: Record<string, unknown> = {};
  for (const [name, field] of Object.entries(type.fields)) {
    const item = v[name];
    if (item === undefined || ((item === '' || item === 0 || item === false) && !meaningfulZeros.has(name))) continue;
    const sub = field.resolvedType;
    if (!(sub instanceof protobuf.Type)) { out[name] = item; continue; }
    let converted: unknown;
    if (field.map) converted = Object.fromEntries(Object.entries(item as Record<string, unknown>).map(([k, x]) => [k, jsonForm(x, sub)]));
    else if (field.repeated) converted = (item as unknown[]).map((x) => jsonForm(x, sub));
    else converted = jsonForm(item, sub);
    if (converted !== undefined) out[name] = converted;
  }
  return out;
}

const zeroTime = (v: Record<string, unknown>) => !Number(v.seconds ?? 0) && !Number(v.nanos ?? 0);

/** metav1.Time in JSON: RFC 3339 in seconds; MicroTime with microseconds. */
function timeString(v: Record<string, unknown>, micro: boolean): string {
  const seconds = Number(v.seconds ?? 0);
  const nanos = Number(v.nanos ?? 0);
  const iso = new Date(seconds * 1000).toISOString().slice(0, 19);
  return micro ? `${iso}.${String(Math.floor(nanos / 1000)).padStart(6, '0')}Z` : `${iso}Z`;
}
