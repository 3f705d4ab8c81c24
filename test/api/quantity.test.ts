import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { intValue, isQuantity, milliValue, quantityValue } from '../../control-plane/api/quantity.ts';

describe('Kubernetes quantities', () => {
  test('millicores parse as thousandths of a CPU', () => {
    assert.equal(milliValue('100m'), 100);
    assert.equal(milliValue('1500m'), 1500);
  });

  test('decimal CPU counts equal their millicore forms', () => {
    assert.equal(milliValue('0.5'), 500);
    assert.equal(milliValue('.25'), 250);
    assert.equal(milliValue('2'), 2000);
    assert.equal(milliValue(0.1), 100);
    assert.equal(milliValue(3), 3000);
  });

  test('binary suffixes are powers of 1024', () => {
    assert.equal(intValue('128Mi'), 128 * 2 ** 20);
    assert.equal(intValue('2Gi'), 2 * 2 ** 30);
    assert.equal(intValue('1Ki'), 1024);
    assert.equal(intValue('1.5Gi'), 1.5 * 2 ** 30);
  });

  test('decimal suffixes are powers of 1000', () => {
    assert.equal(intValue('1G'), 1e9);
    assert.equal(intValue('500M'), 5e8);
    assert.equal(intValue('3k'), 3000);
    assert.equal(intValue('1E'), 1e18);
  });

  test('exponents are accepted in both cases and with signs', () => {
    assert.equal(intValue('1e3'), 1000);
    assert.equal(intValue('1E3'), 1000);
    assert.equal(milliValue('5e-2'), 50);
    assert.equal(intValue('12e+1'), 120);
  });

  test('fractions of a unit round up, as Kubernetes Value() does', () => {
    assert.equal(milliValue('0.0001'), 1);
    assert.equal(intValue('1500m'), 2);
    assert.equal(intValue('100n'), 1);
  });

  test('the exact value is available for display', () => {
    assert.equal(quantityValue('250m'), 0.25);
    assert.equal(quantityValue('1Mi'), 1048576);
  });

  test('negative quantities keep their sign', () => {
    assert.equal(milliValue('-100m'), -100);
  });

  test('malformed quantities are rejected', () => {
    for (const bad of ['', 'abc', '1.2.3', '10 Mi', '1Zi', 'Mi', '.', '1e', '--1']) {
      assert.equal(isQuantity(bad), false, bad);
      assert.throws(() => intValue(bad), /quantities must match/);
    }
  });
});
