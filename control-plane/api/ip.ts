// IPv4 addresses and CIDRs as 32-bit numbers: what the service IP allocator, the node IPAM
// controller and validation need. labkube's networks are IPv4 only (SingleStack), as k3s's
// defaults are.

const octet = '(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])';
const ipv4Pattern = new RegExp(`^${octet}\\.${octet}\\.${octet}\\.${octet}$`);

export function isIPv4(value: string): boolean {
  return ipv4Pattern.test(value);
}

/** `10.43.0.1` -> 0x0a2b0001; undefined when it is not a dotted-quad IPv4 address. */
export function parseIPv4(value: string): number | undefined {
  if (!isIPv4(value)) return undefined;
  return value.split('.').reduce((n, part) => n * 256 + Number(part), 0);
}

export function formatIPv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export interface Cidr { base: number; bits: number; size: number }

/** `10.43.0.0/16` -> its first address and size; the address is masked to the prefix. */
export function parseCidr(value: string): Cidr | undefined {
  const m = /^([^/]+)\/(\d{1,2})$/.exec(value);
  if (!m) return undefined;
  const ip = parseIPv4(m[1]!);
  const bits = Number(m[2]);
  if (ip === undefined || bits > 32) return undefined;
  const size = 2 ** (32 - bits);
  return { base: ip - (ip % size), bits, size };
}

export function isIPv4Cidr(value: string): boolean {
  return parseCidr(value) !== undefined;
}

export function cidrContains(cidr: Cidr, ip: number): boolean {
  return ip >= cidr.base && ip < cidr.base + cidr.size;
}
