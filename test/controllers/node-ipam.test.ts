// Node IPAM: the CIDR set and the controller's sync called directly with fixtures; a fake client
// records the patches.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ConflictError, NotFoundError } from '../../control-plane/api/errors.ts';
import type { NodeObject } from '../../control-plane/controllers/endpoints.ts';
import { CidrSet, NodeIpamController } from '../../control-plane/controllers/node-ipam.ts';
import { Informer } from './endpoints-fixtures.ts';
import { makeNode } from '../scheduler/fixtures.ts';

describe('CidrSet', () => {
  test('cuts the cluster CIDR into node CIDRs, handed out in order', () => {
    const set = new CidrSet('10.42.0.0/16', 24);
    assert.equal(set.count, 256);
    assert.deepEqual([set.allocateNext(), set.allocateNext(), set.allocateNext()], ['10.42.0.0/24', '10.42.1.0/24', '10.42.2.0/24']);
    assert.equal(set.free, 253);
  });

  test('goes round-robin: a freed CIDR is reused only after the others', () => {
    const set = new CidrSet('10.42.0.0/30', 31);
    assert.deepEqual([set.allocateNext(), set.allocateNext(), set.allocateNext()], ['10.42.0.0/31', '10.42.0.2/31', undefined]);
    set.release('10.42.0.0/31');
    assert.equal(set.allocateNext(), '10.42.0.0/31');
  });

  test('skips CIDRs that are occupied, and ignores ones outside the range', () => {
    const set = new CidrSet('10.42.0.0/16', 24);
    assert.equal(set.occupy('10.42.0.0/24'), true);
    assert.equal(set.occupy('10.42.2.0/23'), true, 'a bigger CIDR takes every node CIDR in it');
    assert.equal(set.occupy('10.99.0.0/24'), false);
    assert.deepEqual([set.allocateNext(), set.allocateNext()], ['10.42.1.0/24', '10.42.4.0/24']);
  });

  test('rejects a mask that does not fit the cluster CIDR, and too many CIDRs', () => {
    assert.throws(() => new CidrSet('10.42.0.0/16', 15), /between \/16 and \/32/);
    assert.throws(() => new CidrSet('10.0.0.0/8', 30), /more than 2\^16/);
    assert.throws(() => new CidrSet('fd00::/64', 80), /not an IPv4 CIDR/);
  });
});

const withCidr = (name: string, cidr?: string, rv = '5'): NodeObject => {
  const node = makeNode(name);
  return { ...node, metadata: { ...node.metadata, uid: `uid-${name}`, resourceVersion: rv }, spec: { ...node.spec, ...(cidr && { podCIDR: cidr, podCIDRs: [cidr] }) } };
};

function setup(nodes: NodeObject[], options: { clusterCidr?: string; nodeCidrMaskSize?: number; conflictOnce?: NodeObject } = {}) {
  const informer = new Informer<NodeObject>();
  const patches: { name: string; body: { metadata: { resourceVersion?: string }; spec: { podCIDR: string; podCIDRs: string[] } } }[] = [];
  const events: { reason: string; message: string }[] = [];
  let conflict = options.conflictOnce;
  const client = {
    async patch(_r: unknown, _ns: unknown, name: string, body: (typeof patches)[number]['body']) {
      if (conflict) { conflict = undefined; throw new ConflictError('the object has been modified'); }
      patches.push({ name, body });
      const current = informer.get(name)!;
      return { ...current, metadata: { ...current.metadata, resourceVersion: '99' }, spec: { ...current.spec, ...body.spec } } as never;
    },
    async get(_r: unknown, _ns: unknown, name: string) {
      if (options.conflictOnce?.metadata.name === name) return options.conflictOnce as never;
      const node = informer.get(name);
      if (!node) throw new NotFoundError(`nodes "${name}" not found`);
      return node as never;
    },
  };
  const controller = new NodeIpamController({
    client, nodes: informer, recorder: { record: (_o, _t, reason, message) => { events.push({ reason, message }); } },
    ...(options.clusterCidr && { clusterCidr: options.clusterCidr }), ...(options.nodeCidrMaskSize && { nodeCidrMaskSize: options.nodeCidrMaskSize }),
  });
  nodes.forEach((n) => informer.add(n));
  return { controller, informer, patches, events };
}

describe('node ipam controller sync', () => {
  test('gives a node without a pod CIDR the first free one, with the version it decided on', async () => {
    const s = setup([withCidr('a')]);
    await s.controller.sync('a');
    assert.deepEqual(s.patches, [{ name: 'a', body: { metadata: { resourceVersion: '5' }, spec: { podCIDR: '10.42.0.0/24', podCIDRs: ['10.42.0.0/24'] } } }]);
  });

  test('never changes a pod CIDR already set, and counts it as taken', async () => {
    const s = setup([withCidr('a', '10.42.0.0/24'), withCidr('b')]);
    await s.controller.sync('a');
    await s.controller.sync('b');
    assert.deepEqual(s.patches.map((p) => `${p.name} ${p.body.spec.podCIDR}`), ['b 10.42.1.0/24']);
  });

  test('after a restart the taken set comes from the Nodes: existing CIDRs are never handed out again', async () => {
    const s = setup([withCidr('a', '10.42.0.0/24'), withCidr('c', '10.42.2.0/24'), withCidr('new')]);
    await s.controller.sync('new');
    assert.equal(s.patches[0]!.body.spec.podCIDR, '10.42.1.0/24');
  });

  test('syncing twice before the cache shows the patch assigns the same CIDR', async () => {
    const s = setup([withCidr('a')]);
    await s.controller.sync('a');
    await s.controller.sync('a');
    assert.deepEqual(s.patches.map((p) => p.body.spec.podCIDR), ['10.42.0.0/24', '10.42.0.0/24']);
    assert.equal(s.controller.cidrs.free, 255);
  });

  test('on a conflict it looks at the live Node, and keeps the CIDR someone else set', async () => {
    const s = setup([withCidr('a')], { conflictOnce: withCidr('a', '10.42.7.0/24', '6') });
    await s.controller.sync('a');
    assert.deepEqual(s.patches, []);
    assert.equal(s.controller.cidrs.free, 255);
    assert.equal(s.controller.cidrs.allocateNext(), '10.42.1.0/24', 'the CIDR first chosen was given back');
  });

  test('a deleted Node frees its CIDR and wakes a Node that was waiting for one', async () => {
    const s = setup([withCidr('a', '10.42.0.0/30'), withCidr('b')], { clusterCidr: '10.42.0.0/30', nodeCidrMaskSize: 30 });
    await s.controller.sync('b');
    assert.equal(s.patches.length, 0);
    assert.deepEqual(s.events, [{ reason: 'CIDRNotAvailable', message: 'Node b status is now: CIDRNotAvailable' }]);
    await s.controller.queue.get().then((k) => s.controller.queue.done(k!)); // b, queued when it was added
    s.informer.remove(s.informer.get('a')!);
    assert.equal(await s.controller.queue.get(), 'b');
    await s.controller.sync('b');
    assert.deepEqual(s.patches.map((p) => `${p.name} ${p.body.spec.podCIDR}`), ['b 10.42.0.0/30']);
  });
});
