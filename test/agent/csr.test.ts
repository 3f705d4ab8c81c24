// The agent's hand-encoded PKCS#10 request (agent/csr.ts) is what the control plane reads: its
// subject, its subjectAltNames (IPv4 and IPv6), a valid self-signature, and OpenSSL agrees.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, webcrypto } from 'node:crypto';
import { test } from 'node:test';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { ipBytes, makeCsr } from '../../agent/csr.ts';
import { csrAltNames } from '../../control-plane/apiserver/certs.ts';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);
const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });

test('IP addresses become the 4 or 16 bytes of an iPAddress name', () => {
  assert.equal(ipBytes('10.0.0.7').toString('hex'), '0a000007');
  assert.equal(ipBytes('::1').toString('hex'), '00000000000000000000000000000001');
  assert.equal(ipBytes('fe80::1:2').toString('hex'), 'fe800000000000000000000000010002');
  assert.equal(ipBytes('2001:db8::ffff:192.0.2.1').toString('hex'), '20010db8000000000000ffffc0000201');
  assert.equal(ipBytes('2001:db8:1:2:3:4:5:6').toString('hex'), '20010db8000100020003000400050006');
  assert.throws(() => ipBytes('pi-1'), /not an IP address/);
});

for (const ip of ['192.168.1.20', 'fd00::20']) {
  test(`a request for ${ip}: the control plane reads subject and names, the signature holds, OpenSSL agrees`, async () => {
    const pem = makeCsr(privateKey, { commonName: 'system:node:pi-1', organization: 'system:nodes', ips: [ip], dnsNames: ['pi-1'] });
    const csr = new x509.Pkcs10CertificateRequest(pem);
    assert.equal(csr.subject, 'CN=system:node:pi-1, O=system:nodes');
    assert.deepEqual(csrAltNames(csr), [{ type: 'ip', value: ip }, { type: 'dns', value: 'pi-1' }]);
    assert.equal(await csr.verify(), true);
    const text = execFileSync('openssl', ['req', '-noout', '-verify', '-text'], { input: pem, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
    assert.match(text, /IP Address:/);
  });
}
