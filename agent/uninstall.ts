// `labkube-agent --uninstall`: leaves the board as it was before the agent ran. It removes the
// containers of this node's pods (sandboxes last), the Service proxy's nat chain, the pod
// network's chains, routes and bridge, and the per-pod files. The agent must be stopped first:
// a running agent would put everything back within seconds. The node's credential and the
// airgap images stay, so the board can rejoin as the same node.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { killContainers } from './hooks/kill.ts';
import { Iptables } from './network/iptables.ts';
import { PodNetwork } from './network/pod-network.ts';
import { defaultChain as proxyChain } from './proxy/service-proxy.ts';
import { DockerRuntime } from './runtime/docker.ts';
import { labelKeys } from './runtime/types.ts';

export interface UninstallOptions { nodeName: string; dockerSocket: string; dataDir: string; logger: Logger }

export async function uninstallNode(o: UninstallOptions): Promise<void> {
  const runtime = new DockerRuntime(o.dockerSocket);
  const containers = await runtime.listContainerLabels({ [labelKeys.node]: o.nodeName });
  // A short grace: the node is being taken out of service, and its pods were (or will be) replaced elsewhere.
  await killContainers(runtime, containers, 2);
  o.logger.info({ containers: containers.length }, 'pod containers removed');
  const iptables = new Iptables();
  if (await iptables.available()) {
    await iptables.deleteChain('nat', proxyChain);
    await new PodNetwork({ nodeName: o.nodeName, runtime, dataDir: o.dataDir, iptables, logger: o.logger }).uninstall();
  } else {
    o.logger.warn('iptables is not usable here: no rules to remove');
    await runtime.removeNetwork('labkube');
  }
  await rm(join(o.dataDir, 'pods'), { recursive: true, force: true });
  o.logger.info({ node: o.nodeName }, 'labkube removed from this board');
}
