// Kubernetes' protobuf wire format, read for the few requests that stock clients only ever send
// that way: kubectl's typed clients (`auth can-i`, `auth whoami`) post their reviews as
// `application/vnd.kubernetes.protobuf`. A body is the 4-byte magic "k8s\0" and a runtime.Unknown
// envelope whose `raw` field holds the object's own message (k8s.io/api's generated.proto).
// Only the messages labkube reads are described here, with their field numbers; unknown fields
// are skipped by the decoder, as protobuf intends.
import protobuf from 'protobufjs';
import { BadRequestError } from '../api/errors.ts';

export const kubeProtobufType = 'application/vnd.kubernetes.protobuf';
const magic = Buffer.from([0x6b, 0x38, 0x73, 0x00]);

const s = (id: number) => ({ type: 'string', id });
const root = protobuf.Root.fromJSON({
  nested: {
    TypeMeta: { fields: { apiVersion: s(1), kind: s(2) } },
    Unknown: { fields: { typeMeta: { type: 'TypeMeta', id: 1 }, raw: { type: 'bytes', id: 2 }, contentEncoding: s(3), contentType: s(4) } },
    // k8s.io/api/authorization/v1: SelfSubjectAccessReview{metadata=1, spec=2, status=3}.
    SelfSubjectAccessReview: { fields: { spec: { type: 'SelfSubjectAccessReviewSpec', id: 2 } } },
    SelfSubjectAccessReviewSpec: {
      fields: { resourceAttributes: { type: 'ResourceAttributes', id: 1 }, nonResourceAttributes: { type: 'NonResourceAttributes', id: 2 } },
    },
    ResourceAttributes: { fields: { namespace: s(1), verb: s(2), group: s(3), version: s(4), resource: s(5), subresource: s(6), name: s(7) } },
    NonResourceAttributes: { fields: { path: s(1), verb: s(2) } },
  },
});

/** Decodes a protobuf request body into the plain object its JSON form would have been. */
export function decodeKubeProtobuf(body: Buffer, message: 'SelfSubjectAccessReview'): Record<string, unknown> {
  if (body.length < magic.length || !body.subarray(0, magic.length).equals(magic)) {
    throw new BadRequestError('the protobuf body does not start with the Kubernetes magic number');
  }
  try {
    const unknown = root.lookupType('Unknown').decode(body.subarray(magic.length)) as unknown as { typeMeta?: { apiVersion?: string; kind?: string }; raw?: Uint8Array };
    const type = root.lookupType(message);
    const object = type.toObject(type.decode(unknown.raw ?? new Uint8Array()), { defaults: false });
    return { apiVersion: unknown.typeMeta?.apiVersion, kind: unknown.typeMeta?.kind, ...object };
  } catch (err) {
    throw new BadRequestError(`the protobuf body could not be decoded: ${(err as Error).message}`);
  }
}
