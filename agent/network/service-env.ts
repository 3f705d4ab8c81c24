// The environment variables the kubelet gives every container for the Services it can see
// (pkg/kubelet/envvars/envvars.go): `WEB_SERVICE_HOST`, `WEB_SERVICE_PORT`, one
// `WEB_SERVICE_PORT_<NAME>` per named port, and the Docker-links style `WEB_PORT`,
// `WEB_PORT_80_TCP{,_PROTO,_PORT,_ADDR}`. Pure: the agent passes what its Service informer holds.
import type { Service } from '../../control-plane/api/core.ts';

/** Services whose variables every pod gets, even with enableServiceLinks false (the kubelet's "master services"). */
const alwaysLinked = { namespace: 'default', names: new Set(['kubernetes']) };

const envName = (s: string) => s.toUpperCase().replace(/-/g, '_');
const hasClusterIp = (s: Service) => !!s.spec.clusterIP && s.spec.clusterIP !== 'None';

/** The Services a pod in `namespace` sees, as the kubelet picks them: its namespace's, plus `default/kubernetes`. */
export function visibleServices(services: Service[], namespace: string, enableServiceLinks = true): Service[] {
  const byName = new Map<string, Service>();
  for (const s of services) {
    if (!hasClusterIp(s) || !s.spec.ports?.length) continue;
    const name = s.metadata.name!;
    const ns = s.metadata.namespace ?? 'default';
    if (ns === alwaysLinked.namespace && alwaysLinked.names.has(name)) { if (!byName.has(name)) byName.set(name, s); }
    else if (ns === namespace && enableServiceLinks) byName.set(name, s);
  }
  return [...byName.values()].sort((a, b) => a.metadata.name!.localeCompare(b.metadata.name!));
}

/** The variables for these Services, in the kubelet's order, as `NAME=value`. */
export function serviceEnvironment(services: Service[]): string[] {
  const env: string[] = [];
  for (const s of services) {
    const ip = s.spec.clusterIP!;
    const ports = s.spec.ports ?? [];
    const prefix = envName(s.metadata.name!);
    env.push(`${prefix}_SERVICE_HOST=${ip}`, `${prefix}_SERVICE_PORT=${ports[0]!.port}`);
    for (const p of ports) if (p.name) env.push(`${prefix}_SERVICE_PORT_${envName(p.name)}=${p.port}`);
    ports.forEach((p, i) => {
      const protocol = (p.protocol ?? 'TCP').toLowerCase();
      const url = `${protocol}://${ip}:${p.port}`;
      if (i === 0) env.push(`${prefix}_PORT=${url}`);
      const portPrefix = `${prefix}_PORT_${p.port}_${protocol.toUpperCase()}`;
      env.push(`${portPrefix}=${url}`, `${portPrefix}_PROTO=${protocol}`, `${portPrefix}_PORT=${p.port}`, `${portPrefix}_ADDR=${ip}`);
    });
  }
  return env;
}

/** What a PodWorker's `serviceEnv` option returns for a pod in `namespace`. */
export function podServiceEnvironment(services: Service[], namespace: string, enableServiceLinks = true): string[] {
  return serviceEnvironment(visibleServices(services, namespace, enableServiceLinks));
}
