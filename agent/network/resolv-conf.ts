// A pod's /etc/resolv.conf, as the kubelet writes it (pkg/kubelet/network/dns/dns.go): the
// cluster DNS server (this node's agent, on the pod bridge's gateway), Kubernetes' search path
// followed by the node's own search domains, and ndots:5 so `web` and `web.default` are tried
// as cluster names first.

export type DnsPolicy = 'ClusterFirst' | 'ClusterFirstWithHostNet' | 'Default' | 'None';

/** The pod's spec.dnsConfig (not yet in the API types: read loosely, ignored when absent). */
export interface PodDnsConfig {
  nameservers?: string[];
  searches?: string[];
  options?: { name: string; value?: string }[];
}

export interface HostResolvConf { nameservers: string[]; searches: string[]; options: string[] }

// The kubelet's limits since 1.28 (MaxDNSSearchPaths, MaxDNSSearchListChars); more is cut off.
const maxSearchPaths = 32;
const maxSearchChars = 2048;
// The resolver reads at most three nameservers (glibc's MAXNS).
const maxNameservers = 3;

export function parseResolvConf(text: string): HostResolvConf {
  const out: HostResolvConf = { nameservers: [], searches: [], options: [] };
  for (const raw of text.split('\n')) {
    const [key, ...values] = raw.replace(/[#;].*$/, '').trim().split(/\s+/);
    if (key === 'nameserver' && values[0]) out.nameservers.push(values[0]);
    // The last search or domain line wins, as in the resolver.
    else if (key === 'search' || key === 'domain') out.searches = values.filter(Boolean);
    else if (key === 'options') out.options.push(...values.filter(Boolean));
  }
  return out;
}

function limitSearches(searches: string[]): string[] {
  const out: string[] = [];
  let chars = 0;
  for (const s of [...new Set(searches.map((d) => d.replace(/\.$/, '')).filter(Boolean))]) {
    if (out.length >= maxSearchPaths || chars + s.length + 1 > maxSearchChars) break;
    out.push(s);
    chars += s.length + 1;
  }
  return out;
}

function mergeOptions(base: string[], extra: PodDnsConfig['options']): string[] {
  const byName = new Map(base.map((o) => [o.split(':')[0]!, o]));
  for (const o of extra ?? []) byName.set(o.name, o.value !== undefined ? `${o.name}:${o.value}` : o.name);
  return [...byName.values()];
}

export interface PodResolvConfInput {
  policy: DnsPolicy;
  namespace: string;
  clusterDomain: string;
  /** The cluster DNS server: the pod bridge's gateway. */
  nameserver: string;
  host: HostResolvConf;
  dnsConfig?: PodDnsConfig;
}

/** The file's text; undefined for dnsPolicy Default, where the engine's own copy of the node's file is right. */
export function podResolvConf(input: PodResolvConfInput): string | undefined {
  const { policy, namespace, clusterDomain, host, dnsConfig } = input;
  let nameservers: string[];
  let searches: string[];
  let options: string[];
  if (policy === 'Default') {
    if (!dnsConfig) return undefined;
    ({ nameservers, searches, options } = host);
  } else if (policy === 'None') {
    nameservers = []; searches = []; options = [];
  } else {
    nameservers = [input.nameserver];
    searches = [`${namespace}.svc.${clusterDomain}`, `svc.${clusterDomain}`, clusterDomain, ...host.searches];
    options = ['ndots:5'];
  }
  nameservers = [...nameservers, ...dnsConfig?.nameservers ?? []].slice(0, maxNameservers);
  searches = limitSearches([...searches, ...dnsConfig?.searches ?? []]);
  options = mergeOptions(options, dnsConfig?.options);
  return [
    ...nameservers.map((n) => `nameserver ${n}`),
    ...(searches.length ? [`search ${searches.join(' ')}`] : []),
    ...(options.length ? [`options ${options.join(' ')}`] : []),
    '',
  ].join('\n');
}
