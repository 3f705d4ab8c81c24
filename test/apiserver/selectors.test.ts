// Issue 9, selectors: parsed exactly as Kubernetes parses them. The tables below are Kubernetes'
// own (k8s.io/apimachinery/pkg/labels/selector_test.go, fields/selector_test.go), so a selector
// is valid here if and only if it is valid there; then the API answers a bad one 400 and a
// deletecollection with it deletes nothing.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { BadRequestError } from '../../control-plane/api/errors.ts';
import { matchesFields, parseFieldSelector } from '../../control-plane/api/fields.ts';
import type { KubeObject } from '../../control-plane/api/meta.ts';
import { formatSelector, matches, parseLabelSelector } from '../../control-plane/api/labels.ts';
import { buildTestApp, call, podManifest } from '../support/app.ts';

const parses = (s: string) => { parseLabelSelector(s); return true; };
const refuses = (s: string) => assert.throws(() => parseLabelSelector(s), BadRequestError, JSON.stringify(s));

describe('label selectors, by Kubernetes\' tables', () => {
  test('TestSelectorParse: good strings parse, bad strings are refused', () => {
    for (const s of ['x=a,y=b,z=c', '', 'x!=a,y=b', 'x=', 'x= ', 'x=,z= ', 'x= ,z= ', '!x', 'x>1', 'x>1,z<5']) assert.ok(parses(s), s);
    for (const s of ['x=a||y=b', 'x==a==b', '!x=a', 'x<a']) refuses(s);
  });

  test('TestSetSelectorParser: validity of each case', () => {
    const valid = ['', '\rx', 'this-is-a-dns.domain.com/key-with-dash', 'this-is-another-dns.domain.com/key-with-dash in (so,what)',
      '0.1.2.domain/99 notin (10.10.100.1, tick.tack.clock)', 'foo  in\t (abc)', 'x notin\n (abc)', 'x  notin\t\t\t(abc,def)',
      'x in (abc,def)', 'x in (abc,)', 'x in ()', 'x notin (abc,,def),bar,z in (),w', 'x,y in (a)', 'x=a', 'x>1', 'x<7',
      'x=a,y!=b', 'x=a,y!=b,z in (h,i,j)', 'x notin ( )', 'x notin (, a)', 'a ', 'a in (x,y,notin, z,in)'];
    const invalid = ['x=a||y=b', 'x,,y', ',x,y', 'x nott in (y)', 'a in (xyz),', 'a in (xyz)b notin ()', 'a in (xyz abc)', 'a notin(', 'a (', '('];
    for (const s of valid) assert.ok(parses(s), s);
    for (const s of invalid) refuses(s);
  });

  test('the cases of issue 9: `,,,,` is refused; `app!=` is valid and means "app is not empty"', () => {
    for (const s of [',,,,', ',', 'a=b,', 'a,', '=', '!', '!=a', 'a b', 'a=b=c', 'a!b', `${'a'.repeat(64)}=b`, `a=${'b'.repeat(64)}`, 'a=-b', 'x>', 'x>99999999999999999999']) refuses(s);
    const notEmpty = parseLabelSelector('app!=');
    assert.deepEqual(notEmpty, [{ key: 'app', operator: 'NotIn', values: [''] }]);
    assert.ok(matches(notEmpty, { app: 'web' }));
    assert.ok(matches(notEmpty, {}));
    assert.ok(!matches(notEmpty, { app: '' }));
  });

  test('TestSelectorMatches', () => {
    const yes: [string, Record<string, string>][] = [['', { x: 'y' }], ['x=y', { x: 'y' }], ['x=y,z=w', { x: 'y', z: 'w' }],
      ['x!=y,z!=w', { x: 'z', z: 'a' }], ['notin=in', { notin: 'in' }], ['x', { x: 'z' }], ['!x', { y: 'z' }], ['x>1', { x: '2' }], ['x<1', { x: '0' }],
      ['x in (in)', { x: 'in' }], ['foo=bar,baz=blah', { foo: 'bar', baz: 'blah' }]];
    const no: [string, Record<string, string>][] = [['x=z', {}], ['x=y', { x: 'z' }], ['x=y,z=w', { x: 'w', z: 'w' }], ['x!=y,z!=w', { x: 'z', z: 'w' }],
      ['x', { y: 'z' }], ['!x', { x: 'z' }], ['x>1', { x: '0' }], ['x<1', { x: '2' }], ['z>1', { z: 'v2' }], ['x in ()', { y: 'baz' }],
      ['foo=bar,foobar=bar,baz=blah', { foo: 'bar', baz: 'blah' }]];
    for (const [s, labels] of yes) assert.ok(matches(parseLabelSelector(s), labels), `${s} matches ${JSON.stringify(labels)}`);
    for (const [s, labels] of no) assert.ok(!matches(parseLabelSelector(s), labels), `${s} does not match ${JSON.stringify(labels)}`);
  });

  test('parsing is deterministic and round-trips through the query-string form', () => {
    assert.equal(formatSelector(parseLabelSelector('x=a,a=x')), formatSelector(parseLabelSelector('a=x,x=a')));
    assert.equal(formatSelector(parseLabelSelector('x>2, y<8,z')), 'x>2,y<8,z');
  });
});

describe('field selectors, as Kubernetes parses them', () => {
  const pod = (phase: string | undefined, nodeName?: string) =>
    ({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'default' }, spec: { nodeName }, status: { phase } }) as unknown as KubeObject;

  test('empty terms are skipped, so `,,` selects everything, as in Kubernetes', () => {
    assert.deepEqual(parseFieldSelector(',,', 'Pod'), []);
    assert.deepEqual(parseFieldSelector('', 'Pod'), []);
    assert.equal(parseFieldSelector('status.phase=Running,,', 'Pod').length, 1);
  });

  test('`status.phase!=` is valid: the phase is not empty', () => {
    const notEmpty = parseFieldSelector('status.phase!=', 'Pod');
    assert.ok(matchesFields(notEmpty, pod('Running')));
    assert.ok(!matchesFields(notEmpty, pod(undefined)));
    assert.ok(matchesFields(parseFieldSelector('spec.nodeName=', 'Pod'), pod('Pending')), 'the scheduler\'s unscheduled-pods query');
  });

  test('escapes and operators as in fields/selector.go; the rest is a 400', () => {
    assert.deepEqual(parseFieldSelector('metadata.name=a\\,b\\=c\\\\', 'Pod'), [{ field: 'metadata.name', value: 'a,b=c\\', equal: true }]);
    assert.deepEqual(parseFieldSelector('metadata.name==x', 'Pod'), [{ field: 'metadata.name', value: 'x', equal: true }]);
    assert.deepEqual(parseFieldSelector('metadata.name!=\\=x', 'Pod'), [{ field: 'metadata.name', value: '=x', equal: false }]);
    for (const s of ['metadata.name!==x', 'metadata.name', 'x', 'metadata.name=a=b', 'metadata.name=a\\x', 'metadata.name=a\\', ' metadata.name=x', 'nope=x', 'spec.containers=x']) {
      assert.throws(() => parseFieldSelector(s, 'Pod'), BadRequestError, s);
    }
  });
});

describe('selectors at the API', () => {
  let app: FastifyInstance;
  const pods = '/api/v1/namespaces/default/pods';
  before(async () => {
    app = await buildTestApp();
    for (const name of ['s1', 's2', 's3']) await call(app, 'POST', pods, podManifest(name));
  });
  after(async () => { await app.close(); });

  test('a malformed label selector is a 400 on list, watch and deletecollection, and deletes nothing', async () => {
    for (const s of [',,,,', 'a=b,', '!a=b', '(', 'x in (a b)']) {
      const q = `labelSelector=${encodeURIComponent(s)}`;
      for (const [method, url] of [['GET', `${pods}?${q}`], ['GET', `${pods}?watch=1&${q}`], ['DELETE', `${pods}?${q}`]] as const) {
        const res = await call(app, method, url);
        assert.equal(res.status, 400, `${method} ${url}`);
        assert.equal(res.body.kind, 'Status');
      }
    }
    assert.equal((await call(app, 'GET', pods)).body.items.length, 3, 'every pod is still there');
  });

  test('a malformed field selector is a 400 and deletes nothing; Kubernetes\' valid oddities are served', async () => {
    for (const s of ['metadata.name', 'metadata.name=a=b', 'nope=x', 'metadata.name=\\q']) {
      assert.equal((await call(app, 'DELETE', `${pods}?fieldSelector=${encodeURIComponent(s)}`)).status, 400, s);
    }
    assert.equal((await call(app, 'GET', pods)).body.items.length, 3);
    assert.equal((await call(app, 'GET', `${pods}?fieldSelector=${encodeURIComponent(',,')}`)).body.items.length, 3);
    assert.equal((await call(app, 'GET', `${pods}?fieldSelector=${encodeURIComponent('status.phase!=')}`)).body.items.length, 3);
    assert.equal((await call(app, 'GET', `${pods}?labelSelector=${encodeURIComponent('app!=')}`)).body.items.length, 3);
    assert.equal((await call(app, 'GET', `${pods}?labelSelector=${encodeURIComponent('app!=web')}`)).body.items.length, 0);
  });
});
