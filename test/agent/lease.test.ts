// The heartbeat (agent/lease.ts): one request per renewal, the Lease created when missing, and
// the board's own clock in renewTime (the control plane only watches it change).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AlreadyExistsError, NotFoundError } from '../../control-plane/api/errors.ts';
import type { KubeClient } from '../../control-plane/client/client.ts';
import { LeaseRenewer } from '../../agent/lease.ts';

test('a renewal is one merge patch carrying the board\'s clock; a missing Lease is created once', async () => {
  const calls: { verb: string; body: { spec: { renewTime: string; holderIdentity: string; leaseDurationSeconds: number } } }[] = [];
  let exists = false;
  const client = {
    patch: async (_r: unknown, ns: string, name: string, body: never) => {
      assert.deepEqual([ns, name], ['kube-node-lease', 'board-1']);
      calls.push({ verb: 'patch', body });
      if (!exists) throw NotFoundError.of('leases', 'board-1');
      return body;
    },
    create: async (_r: unknown, _ns: string, body: never) => {
      calls.push({ verb: 'create', body });
      exists = true;
      return body;
    },
  } as unknown as KubeClient;
  const tenMinutesBehind = Date.parse('2026-01-01T00:00:00Z');
  const renewer = new LeaseRenewer({ client, nodeName: 'board-1', intervalMs: 2_000, now: () => tenMinutesBehind });
  await renewer.renew();
  await renewer.renew();
  assert.deepEqual(calls.map((c) => c.verb), ['patch', 'create', 'patch']);
  assert.deepEqual(calls[2]!.body.spec, { holderIdentity: 'board-1', leaseDurationSeconds: 8, renewTime: '2026-01-01T00:00:00.000000Z' });
});

test('a Lease created meanwhile by someone else is not an error; the next renewal patches it', async () => {
  let patches = 0;
  let renewed = 0;
  const client = {
    patch: async () => { patches++; throw NotFoundError.of('leases', 'board-1'); },
    create: async () => { throw AlreadyExistsError.of('leases', 'board-1'); },
  } as unknown as KubeClient;
  await new LeaseRenewer({ client, nodeName: 'board-1', intervalMs: 2_000, onRenewed: () => renewed++ }).renew();
  assert.equal(patches, 1);
  assert.equal(renewed, 1);
});
