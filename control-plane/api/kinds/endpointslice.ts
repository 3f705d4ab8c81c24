// EndpointSlice: written by the endpoint-slice controller; no spec, and nothing beyond the schema
// to check.
import { EndpointSlice } from '../discovery.ts';
import type { KubeObject } from '../meta.ts';
import { ageCol, col, listWithMore, nameCol } from './columns.ts';
import { resource, type KindStrategy } from './strategy.ts';

interface EndpointSliceView {
  addressType?: string;
  ports?: { name?: string; port?: number }[] | null;
  endpoints?: { addresses?: string[] }[];
}
const slice = (o: KubeObject) => o as unknown as EndpointSliceView;

/** kubectl's formatDiscoveryPorts: port numbers (or names), three at most; `<unset>` without ports. */
export function formatSlicePorts(o: KubeObject): string {
  const ports = slice(o).ports ?? [];
  const list = ports.slice(0, 3).map((p) => (p.port !== undefined && p.port !== null ? String(p.port) : p.name ?? '*'));
  return listWithMore(list, ports.length, 3, '<unset>');
}

/** kubectl's formatDiscoveryEndpoints: every address, ready or not, three at most. */
export function formatSliceEndpoints(o: KubeObject): string {
  const addresses = (slice(o).endpoints ?? []).flatMap((e) => e.addresses ?? []);
  return listWithMore(addresses.slice(0, 3), addresses.length, 3, '<unset>');
}

export const endpointSliceStrategy: KindStrategy = {
  // Kubernetes gives EndpointSlices no short name.
  resource: resource({ group: 'discovery.k8s.io', version: 'v1', kind: 'EndpointSlice', plural: 'endpointslices', namespaced: true, shortNames: [], schema: EndpointSlice, hasSpec: false }),
  columns: [
    nameCol,
    col('AddressType', (o) => slice(o).addressType ?? '', { description: 'addressType specifies the type of address carried by this EndpointSlice.' }),
    col('Ports', formatSlicePorts, { description: 'ports specifies the list of network ports exposed by each endpoint in this slice.' }),
    col('Endpoints', formatSliceEndpoints, { description: 'endpoints is a list of unique endpoints in this slice.' }),
    ageCol,
  ],
};
