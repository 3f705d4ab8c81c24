// A control plane with hollow nodes for one describe block: started before its tests, stopped
// after them. Read `cluster.server` and `cluster.nodes` inside tests (they exist once `before` ran).
import { after, before } from 'node:test';
import { startHollowNodes, type HollowNode } from './hollow-node.ts';
import { startTestServer, type TestServer } from './server.ts';

export interface Cluster { server: TestServer; nodes: HollowNode[] }

export function useCluster(nodeCount: number): Cluster {
  const cluster = {} as Cluster;
  before(async () => {
    cluster.server = await startTestServer();
    cluster.nodes = await startHollowNodes(cluster.server, nodeCount);
  });
  after(async () => {
    await Promise.all(cluster.nodes.map((n) => n.stop()));
    await cluster.server.stop();
  });
  return cluster;
}
