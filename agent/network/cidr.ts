// IPv4 CIDR arithmetic for the pod network: enough to find a subnet's gateway and test membership.

export interface Cidr { base: number; bits: number }

function parseIp(ip: string): number | undefined {
  const parts = ip.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) return undefined;
  return parts.reduce((n, p) => n * 256 + Number(p), 0);
}

const formatIp = (n: number) => [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');

/** The network of an IPv4 CIDR ("10.42.1.7/24" -> base of 10.42.1.0, 24 bits); undefined when it is not one. */
export function parseCidr(cidr: string): Cidr | undefined {
  const [ip, len] = cidr.split('/');
  const base = parseIp(ip ?? '');
  const bits = Number(len);
  if (base === undefined || !/^\d{1,2}$/.test(len ?? '') || bits > 32) return undefined;
  return { base: base - (base % 2 ** (32 - bits)), bits };
}

export function cidrContains(cidr: string, ip: string): boolean {
  const c = parseCidr(cidr);
  const n = parseIp(ip);
  if (!c || n === undefined) return false;
  return n - (n % 2 ** (32 - c.bits)) === c.base;
}

/** The first usable address of the subnet: the bridge's gateway (10.42.1.0/24 -> 10.42.1.1). */
export function firstAddress(cidr: string): string {
  const c = parseCidr(cidr);
  if (!c || c.bits > 30) throw new Error(`${cidr} is not an IPv4 subnet with room for pods`);
  return formatIp(c.base + 1);
}

/** The CIDR in canonical form (host bits cleared). */
export function normalizeCidr(cidr: string): string {
  const c = parseCidr(cidr);
  if (!c) throw new Error(`${cidr} is not an IPv4 CIDR`);
  return `${formatIp(c.base)}/${c.bits}`;
}

