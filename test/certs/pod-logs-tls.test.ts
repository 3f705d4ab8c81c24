// Pod logs through a verified agent: the API server dials the agent's log server and trusts only
// the certificate the cluster CA signed for that node at join (agent-dial.ts). A self-signed
// certificate, another node's, one the control plane never handed out, or a revoked node's is
// refused with a 503 that says why, before the log token is sent.
import assert from 'node:assert/strict';
import https from 'node:https';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startLogServer, type LogServer } from '../../agent/logs-server.ts';
import { obtainCredential, registerNode } from '../../agent/registration.ts';
import { ServingCertificate } from '../../agent/serving-cert.ts';
import type { Node } from '../../control-plane/api/core.ts';
import type { KubeObject } from '../../control-plane/api/meta.ts';
import { resourceFor } from '../../control-plane/api/resources.ts';
import { signServingCert, x509 } from '../../control-plane/apiserver/certs.ts';
import { KubeClient } from '../../control-plane/client/client.ts';
import { labelKeys } from '../../agent/runtime/types.ts';
import { FakeRuntime } from '../agent/fake-runtime.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { selfSigned } from './test-ca.ts';

const nodes = resourceFor('', 'nodes')!;
const pods = resourceFor('', 'pods')!;

/** GET as the admin: status and body. */
function adminGet(server: TestServer, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const url = new URL(path, server.url);
    https.get({ host: url.hostname, port: url.port, path: url.pathname + url.search, ca: server.caPem, headers: { authorization: `Bearer ${server.adminToken}` } }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => { body += d.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

/** An HTTPS server at 127.0.0.1 that answers every request with a log line: an agent impostor. */
async function impostor(tls: { cert: string; key: string }): Promise<{ port: number; requests: () => number; close: () => Promise<void> }> {
  let requests = 0;
  const server = https.createServer(tls, (_req, res) => { requests++; res.end('impostor saw the token\n'); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as { port: number }).port,
    requests: () => requests,
    close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

describe('pod logs through a verified agent certificate', { timeout: 180_000 }, () => {
  let server: TestServer;
  let agentDir: string;
  let logServer: LogServer;
  let nodeClient: KubeClient;
  let runtime: FakeRuntime;
  const logPath = '/api/v1/namespaces/default/pods/web/log';

  /** Points the Node's kubelet endpoint at `port`, as the agent reports it. */
  const reportPort = (port: number) => nodeClient.patch(nodes, undefined, 'board-1', { status: { daemonEndpoints: { kubeletEndpoint: { Port: port } } } }, 'merge', 'status');

  before(async () => {
    server = await startTestServer();
    agentDir = mkdtempSync(join(tmpdir(), 'labkube-agent-'));
    runtime = new FakeRuntime();
    runtime.containers.set('c1', {
      id: 'c1', name: 'web', image: 'nginx', imageId: 'sha256:x', status: 'running', exitCode: 0, oomKilled: false, error: '', createdAt: new Date().toISOString(),
      labels: { [labelKeys.node]: 'board-1', [labelKeys.namespace]: 'default', [labelKeys.pod]: 'web', [labelKeys.container]: 'web' },
      config: { name: 'web', image: 'nginx', labels: {} } as never, // the log server reads labels only
    });
    // The agent's own path: the certificate's CSR goes with the join, and the log server serves what comes back.
    const certificate = new ServingCertificate({ dataDir: agentDir, nodeName: 'board-1', ip: '127.0.0.1', caPem: server.caPem });
    const token = await obtainCredential({ server: server.url, ca: server.caPem, joinToken: server.joinToken, nodeName: 'board-1', dataDir: agentDir, servingCert: certificate });
    assert.ok(certificate.tls, 'the join brought a certificate');
    logServer = await startLogServer({ runtime, nodeName: 'board-1', ip: '127.0.0.1', port: 0, caPem: server.caPem, dataDir: agentDir, certificate });
    nodeClient = new KubeClient({ server: server.url, token, ca: server.caPem });
    await registerNode(nodeClient, {
      apiVersion: 'v1', kind: 'Node', metadata: { name: 'board-1' },
      status: { addresses: [{ type: 'InternalIP', address: '127.0.0.1' }], daemonEndpoints: { kubeletEndpoint: { Port: logServer.port } } },
    } as Node);
    await server.client.create(pods, 'default', {
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web' }, spec: { nodeName: 'board-1', containers: [{ name: 'web', image: 'nginx' }] },
    } as KubeObject);
  });
  after(async () => {
    nodeClient?.close();
    await logServer?.close();
    await server?.stop();
    rmSync(agentDir, { recursive: true, force: true });
  });

  test('logs come through when the agent presents the certificate signed for it at join', async () => {
    const res = await adminGet(server, logPath);
    assert.equal(res.status, 200, res.body);
    assert.equal(res.body, 'log line\n');
  });

  test('a self-signed certificate is refused, and the token never reaches it', async () => {
    const fake = await impostor(await selfSigned('system:node:board-1', ['127.0.0.1']));
    try {
      await reportPort(fake.port);
      const res = await adminGet(server, logPath);
      assert.equal(res.status, 503, res.body);
      assert.match(JSON.parse(res.body).message, /refusing the agent of node "board-1" at 127\.0\.0\.1:\d+: its serving certificate is not trusted: it is self-signed/);
      assert.equal(fake.requests(), 0, 'the TLS handshake failed before any request');
    } finally {
      await fake.close();
    }
  });

  test('another node\'s certificate is refused, whether or not it covers the address', async () => {
    const ca = { certPem: server.caPem, keyPem: (await import('node:fs')).readFileSync(join(server.dataDir, 'ca.key'), 'utf8') };
    // board-2 joins as an agent does; its certificate names its own address.
    const otherDir = mkdtempSync(join(tmpdir(), 'labkube-agent-'));
    try {
      const other = new ServingCertificate({ dataDir: otherDir, nodeName: 'board-2', ip: '127.0.0.2', caPem: server.caPem });
      await obtainCredential({ server: server.url, ca: server.caPem, joinToken: server.joinToken, nodeName: 'board-2', dataDir: otherDir, servingCert: other });
      const fake = await impostor(other.tls!);
      try {
        await reportPort(fake.port);
        const res = await adminGet(server, logPath);
        assert.equal(res.status, 503, res.body);
        assert.match(JSON.parse(res.body).message, /not trusted: it does not cover the address the Node reports/);
      } finally {
        await fake.close();
      }
      // A CA-signed certificate for board-2 that does cover board-1's address (the CA signed it outside the join's rules).
      const forged = await signServingCert(ca, new x509.Pkcs10CertificateRequest(await new ServingCertificate({
        dataDir: otherDir, nodeName: 'board-2', ip: '127.0.0.1', caPem: server.caPem,
      }).csr()));
      const covering = await impostor({ cert: forged.pem, key: other.tls!.key });
      try {
        await reportPort(covering.port);
        const res = await adminGet(server, logPath);
        assert.equal(res.status, 503, res.body);
        assert.match(JSON.parse(res.body).message, /not trusted: it is the certificate of "system:node:board-2", not of system:node:board-1/);
      } finally {
        await covering.close();
      }
      // And one for board-1 that the control plane never handed out (not recorded at a join).
      const unrecorded = await signServingCert(ca, new x509.Pkcs10CertificateRequest(await new ServingCertificate({
        dataDir: otherDir, nodeName: 'board-1', ip: '127.0.0.1', caPem: server.caPem,
      }).csr()));
      const stray = await impostor({ cert: unrecorded.pem, key: other.tls!.key });
      try {
        await reportPort(stray.port);
        const res = await adminGet(server, logPath);
        assert.equal(res.status, 503, res.body);
        assert.match(JSON.parse(res.body).message, /not a certificate the control plane signed for this node/);
      } finally {
        await stray.close();
      }
    } finally {
      rmSync(otherDir, { recursive: true, force: true });
    }
  });

  test('a board whose clock is 10 minutes off either way serves logs; 20 minutes off is told to check its time', async () => {
    const minutes = (m: number) => m * 60_000;
    for (const [offset, status] of [[minutes(10), 200], [-minutes(10), 200], [minutes(20), 401], [-minutes(20), 401]] as const) {
      const skewed = await startLogServer({
        runtime, nodeName: 'board-1', ip: '127.0.0.1', port: 0, caPem: server.caPem, dataDir: agentDir,
        certificate: logServer.certificate, clock: () => Date.now() + offset,
      });
      try {
        await reportPort(skewed.port);
        const res = await adminGet(server, logPath);
        assert.equal(res.status, status, `clock off by ${offset / 60_000} min: ${res.body}`);
        if (status === 401) assert.match(JSON.parse(res.body).message, /check the board's time/);
      } finally {
        await skewed.close();
      }
    }
  });

  test('after the node is revoked its own certificate is refused too', async () => {
    await reportPort(logServer.port);
    assert.equal((await adminGet(server, logPath)).status, 200);
    await server.client.request('POST', '/labkube/v1/nodes/board-1/revoke');
    const res = await adminGet(server, logPath);
    assert.equal(res.status, 503, res.body);
    assert.match(JSON.parse(res.body).message, /not trusted: node "board-1" was revoked/);
  });
});
