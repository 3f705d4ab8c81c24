// Renewal: the agent asks for a new serving certificate with its node credential when one is due
// (none yet, its address changed, two thirds of its life gone), without a new credential.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AgentClient } from '../../agent/api-client.ts';
import { Wakeup } from '../../agent/backoff.ts';
import { obtainCredential, renewServingCert } from '../../agent/registration.ts';
import { ServingCertificate, type ServingTls } from '../../agent/serving-cert.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

describe('serving certificate renewal', { timeout: 120_000 }, () => {
  let server: TestServer;
  let dataDir: string;
  before(async () => {
    server = await startTestServer();
    dataDir = mkdtempSync(join(tmpdir(), 'labkube-renew-'));
  });
  after(async () => {
    await server?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  /** Runs the renewal loop until `certificate` has taken `count` certificates; returns them. */
  async function renewals(certificate: ServingCertificate, client: AgentClient, count: number): Promise<ServingTls[]> {
    const stop = new AbortController();
    const seen: ServingTls[] = [];
    const done = new Promise<void>((resolve) => certificate.onChange((tls) => { seen.push(tls); if (seen.length === count) resolve(); }));
    const loop = renewServingCert({ certificate, client, nodeName: 'board-1', signal: stop.signal, sleep: new Wakeup().sleep });
    await done;
    stop.abort();
    await loop;
    return seen;
  }

  test('an agent that joined without a CSR gets its certificate at once, keeping its credential', async () => {
    const token = await obtainCredential({ server: server.url, ca: server.caPem, joinToken: server.joinToken, nodeName: 'board-1', dataDir });
    const client = new AgentClient({ server: server.url, token, ca: server.caPem });
    try {
      const certificate = new ServingCertificate({ dataDir, nodeName: 'board-1', ip: '127.0.0.1', caPem: server.caPem });
      assert.equal(certificate.tls, undefined);
      const [tls] = await renewals(certificate, client, 1);
      assert.equal(new X509Certificate(tls!.cert).subject, 'CN=system:node:board-1\nO=system:nodes');
      assert.ok(server.app.authenticator.isCredentialOf('board-1', token), 'the credential is unchanged');

      // The board's address changed: the saved certificate does not cover it, so a new one is due at once.
      const moved = new ServingCertificate({ dataDir, nodeName: 'board-1', ip: '127.0.0.9', caPem: server.caPem });
      assert.ok(moved.renewAt() <= Date.now());
      const [renewed] = await renewals(moved, client, 1);
      assert.equal(new X509Certificate(renewed!.cert).subjectAltName, 'IP Address:127.0.0.9, DNS:board-1');
      assert.ok(moved.renewAt() > Date.now() + 50 * 86_400_000, 'the next renewal is two months away');
    } finally {
      client.close();
    }
  });
});
