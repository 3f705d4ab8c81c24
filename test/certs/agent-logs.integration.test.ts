// The whole flow with a real agent process and the real Docker engine: the agent joins with a
// CSR, serves logs with the certificate the cluster CA signed for it, and a restarted agent
// serves with the saved one (no new CSR, no new certificate).
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import https from 'node:https';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Pod } from '../../control-plane/api/core.ts';
import type { KubeObject } from '../../control-plane/api/meta.ts';
import { resourceFor } from '../../control-plane/api/resources.ts';
import { eventually, startTestServer, type TestServer } from '../support/server.ts';
import { removeContainersOf, startAgentProcess, uniqueName, type AgentProcess } from '../agent/support.ts';

const pods = resourceFor('', 'pods')!;
const nodes = resourceFor('', 'nodes')!;
const name = uniqueName('certs');
const ip = '127.0.0.6';
let server: TestServer;
let agent: AgentProcess;

function logsOf(pod: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const url = new URL(`/api/v1/namespaces/default/pods/${pod}/log`, server.url);
    https.get({ host: url.hostname, port: url.port, path: url.pathname, ca: server.caPem, headers: { authorization: `Bearer ${server.adminToken}` } }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => { body += d.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

const recordedFingerprints = () => server.app.registry.store.get(`/labkube.io/nodeservingcerts/${name}`)?.fingerprints as string[] | undefined;

before(async () => {
  server = await startTestServer();
  agent = startAgentProcess(server, name, ip);
  await eventually(async () => (await server.client.list(nodes)).items.some((n) => n.metadata.name === name), 60_000, 'the node registered');
});

after(async () => {
  await agent?.kill('SIGKILL');
  removeContainersOf([name]);
  await server?.stop();
});

test('the agent joins with a CSR and serves logs with the certificate the cluster CA signed for it', { timeout: 180_000 }, async () => {
  const certPath = join(agent.dataDir, 'agent.crt');
  const pem = await eventually(() => existsSync(certPath) && readFileSync(certPath, 'utf8'), 30_000, 'agent.crt');
  const cert = new X509Certificate(pem);
  const ca = new X509Certificate(server.caPem);
  assert.ok(cert.checkIssued(ca) && cert.verify(ca.publicKey), 'signed by the cluster CA');
  assert.equal(cert.subject, `CN=system:node:${name}\nO=system:nodes`);
  assert.equal(cert.subjectAltName, `IP Address:${ip}, DNS:${name}`);
  assert.deepEqual(recordedFingerprints(), [cert.fingerprint256.replaceAll(':', '').toLowerCase()]);

  await server.client.create(pods, 'default', {
    apiVersion: 'v1', kind: 'Pod', metadata: { name: 'talker' },
    spec: {
      nodeName: name,
      // Kept through the agent's restart below, however long tsx takes to start it on a loaded machine.
      tolerations: ['not-ready', 'unreachable'].map((t) => ({ key: `node.kubernetes.io/${t}`, operator: 'Exists', effect: 'NoExecute' })),
      containers: [{ name: 'main', image: 'busybox', imagePullPolicy: 'IfNotPresent', command: ['sh', '-c', 'echo hello from talker; exec sleep 3600'] }],
    },
  } as KubeObject);
  await eventually(async () => (await server.client.get<Pod & KubeObject>(pods, 'default', 'talker')).status?.phase === 'Running', 120_000, 'talker running');
  // The line may take a moment to reach the engine's log after the pod reports Running.
  const logs = await eventually(async () => {
    const r = await logsOf('talker');
    if (r.status !== 200) throw new Error(`HTTP ${r.status}: ${r.body}`);
    return r.body.length > 0 && r;
  }, 30_000, 'logs');
  assert.equal(logs.body, 'hello from talker\n');
});

test('a restarted agent serves with its saved certificate: no new CSR', { timeout: 180_000 }, async () => {
  const before = recordedFingerprints();
  await agent.kill('SIGTERM');
  agent = startAgentProcess(server, name, ip, [], agent.dataDir);
  await eventually(async () => {
    const r = await logsOf('talker');
    if (r.status !== 200) throw new Error(`HTTP ${r.status}: ${r.body}`);
    return r;
  }, 90_000, 'logs from the restarted agent');
  assert.deepEqual(recordedFingerprints(), before);
});
