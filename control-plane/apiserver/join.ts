// Joining (see auth.ts for the rules): the join token for a new name, the node's own
// credential to rotate it, the admin to reset a node. With the join, the agent may send a CSR
// for its serving certificate; the answer carries the certificate the cluster CA signed
// (node-serving-certs.ts says what a node may ask for).
//
//   POST /labkube/v1/join {nodeName, currentToken?, csr?}      -> 201 {nodeName, token, certificate?}
//   POST /labkube/v1/nodes/NAME/serving-certificate {csr}      -> 201 {certificate}   (the node itself: renewal)
//   POST /labkube/v1/nodes/NAME/revoke                         -> 200 Status          (admin: `labctl node revoke`)
//
// Renewal has its own route rather than a rotation through the join: a rotation replaces the
// node credential at once, and the agent's log server renews on its own timer while the agent's
// API client still holds the credential; a new certificate needs no new credential.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { BadRequestError, ConflictError, ForbiddenError, NotFoundError, ServiceUnavailableError } from '../api/errors.ts';
import { resourceFor } from '../api/resources.ts';
import { isValidName } from '../api/validation.ts';
import { parseBody } from './body.ts';
import { signServingCert, type ClusterCa } from './certs.ts';
import { checkServingCsr, readServingCertRecord, withIssued, writeServingCertRecord } from './node-serving-certs.ts';
import { keyFor } from './registry.ts';

const nodes = resourceFor('', 'nodes')!;

export interface JoinRouteOptions {
  /** Signs nodes' serving certificates; without it a join's CSR is ignored and a renewal refused (503). */
  clusterCa?: ClusterCa;
}

interface JoinBody { nodeName?: unknown; currentToken?: unknown; csr?: unknown }

export function registerJoinRoute(app: FastifyInstance, options: JoinRouteOptions = {}): void {
  const { registry, authenticator } = app;
  const store = registry.store;
  const nodeExists = (name: string) => store.get(keyFor(nodes, undefined, name)) !== undefined;

  /** Checks and signs a CSR for `nodeName`; records nothing (the caller does, once everything else passed). */
  const certify = async (req: FastifyRequest, nodeName: string, csr: unknown) => {
    if (typeof csr !== 'string') throw new BadRequestError('csr must be a PEM-encoded PKCS#10 certificate signing request');
    if (!options.clusterCa) throw new ServiceUnavailableError('this API server has no cluster CA to sign serving certificates with');
    const request = await checkServingCsr(csr, { nodeName, remoteAddress: req.socket.remoteAddress, store });
    return signServingCert(options.clusterCa, request);
  };

  app.post('/labkube/v1/join', async (req, reply) => {
    const user = req.user!;
    const body = parseBody(req.headers['content-type'], req.body as string | undefined) as JoinBody | undefined;
    const nodeName = body?.nodeName;
    if (typeof nodeName !== 'string' || !isValidName('Node', nodeName)) {
      throw new BadRequestError('nodeName must be a lowercase RFC 1123 subdomain');
    }
    if (user.kind === 'node' && user.nodeName !== nodeName) {
      throw new ForbiddenError(`node "${user.nodeName}" may only renew its own credential, not that of "${nodeName}"`);
    }
    const proven = typeof body?.currentToken === 'string' && authenticator.isCredentialOf(nodeName, body.currentToken);
    if (user.kind === 'joiner' && !proven && authenticator.hasCredential(nodeName) && nodeExists(nodeName)) {
      throw new ConflictError(`node "${nodeName}" is already registered and holds a credential: a board joins again with its ` +
        `current credential, or, if it lost it, after an admin deletes the Node (kubectl delete node ${nodeName})`);
    }
    const record = readServingCertRecord(store, nodeName);
    // A revocation holds while the Node exists: deleting it is how an admin lets the name join again.
    if (user.kind === 'joiner' && record?.revoked && nodeExists(nodeName)) {
      throw new ForbiddenError(`node "${nodeName}" was revoked by an admin and may not join again while its Node exists: ` +
        `delete it (labctl delete node ${nodeName}) to let a board join under this name`);
    }
    // Everything that can refuse comes before anything is written: a refused join changes nothing.
    // A server without a CA still lets the board join: a credential matters more than its logs.
    const issued = body?.csr === undefined || !options.clusterCa ? undefined : await certify(req, nodeName, body.csr);
    const token = authenticator.issueNodeToken(nodeName);
    // A rotation (the node proved itself) keeps its current certificate trusted until the new one
    // is in use; a fresh join is maybe another board: nothing signed for the name before is its.
    const rotation = user.kind === 'node' || proven;
    if (issued) writeServingCertRecord(store, nodeName, withIssued(record, issued.fingerprint, rotation));
    else if (record && !rotation) writeServingCertRecord(store, nodeName, { fingerprints: [], revoked: false });
    return reply.code(201).send({ nodeName, token, ...(issued && { certificate: issued.pem }) });
  });

  app.post<{ Params: { name: string } }>('/labkube/v1/nodes/:name/serving-certificate', async (req, reply) => {
    const user = req.user!;
    const nodeName = req.params.name;
    if (user.kind !== 'node' || user.nodeName !== nodeName) {
      throw new ForbiddenError(`only node "${nodeName}" may renew its serving certificate, not ${user.name}`);
    }
    const body = parseBody(req.headers['content-type'], req.body as string | undefined) as JoinBody | undefined;
    const issued = await certify(req, nodeName, body?.csr);
    writeServingCertRecord(store, nodeName, withIssued(readServingCertRecord(store, nodeName), issued.fingerprint, true));
    return reply.code(201).send({ certificate: issued.pem });
  });

  app.post<{ Params: { name: string } }>('/labkube/v1/nodes/:name/revoke', async (req) => {
    const user = req.user!;
    const nodeName = req.params.name;
    if (user.kind !== 'admin') throw new ForbiddenError(`forbidden: User "${user.name}" cannot revoke node credentials`);
    if (!isValidName('Node', nodeName)) throw new BadRequestError('the node name must be a lowercase RFC 1123 subdomain');
    const record = readServingCertRecord(store, nodeName);
    if (!authenticator.hasCredential(nodeName) && !record && !nodeExists(nodeName)) {
      throw new NotFoundError(`node "${nodeName}" holds no credential and does not exist`);
    }
    authenticator.revoke(nodeName);
    writeServingCertRecord(store, nodeName, { fingerprints: [], revoked: true });
    return {
      apiVersion: 'v1', kind: 'Status', metadata: {}, status: 'Success', code: 200, details: { name: nodeName, kind: 'nodes' },
      message: `node "${nodeName}" revoked: its credential and serving certificate are refused; it may join again once its Node is deleted`,
    };
  });
}
