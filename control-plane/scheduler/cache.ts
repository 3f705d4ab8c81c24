// The scheduler's cache: a NodeInfo per node, kept in step with node and pod events, plus the
// pods it has assumed onto a node while their binding is in flight. Assuming is what lets a burst
// of replicas spread: the second pod already sees the first one on its node.
import type { Node, Pod } from '../api/core.ts';
import { mergeImagePlatforms } from './image-platforms.ts';
import { addPod, newNodeInfo, removePod, setNode, type NodeInfo } from './node-info.ts';
import { newPodInfo, podKey, type PodInfo } from './pod-info.ts';

interface Accounted { nodeName: string; info: PodInfo; assumed: boolean }

const isTerminal = (pod: Pod) => pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed';

export class SchedulerCache {
  readonly nodes = new Map<string, NodeInfo>();
  private readonly pods = new Map<string, Accounted>();
  private platforms: Map<string, Set<string>> | undefined;

  setNode(node: Node): void {
    const name = node.metadata.name!;
    const existing = this.nodes.get(name);
    if (existing) setNode(existing, node);
    else {
      const info = newNodeInfo(node);
      this.nodes.set(name, info);
      // Pods bound before the node (re)appeared count against it now.
      for (const p of this.pods.values()) if (p.nodeName === name) addPod(info, p.info);
    }
    this.platforms = undefined;
  }

  removeNode(name: string): void {
    this.nodes.delete(name);
    this.platforms = undefined;
  }

  /** Accounts a pod from an informer event: bound and not finished counts on its node. */
  updatePod(pod: Pod): void {
    const key = podKey(pod);
    const nodeName = pod.spec.nodeName;
    const current = this.pods.get(key);
    if (isTerminal(pod)) {
      if (current) this.remove(key, current);
      return;
    }
    if (!nodeName) {
      if (current && !current.assumed) this.remove(key, current);
      return;
    }
    if (current && current.nodeName === nodeName && current.assumed) {
      current.assumed = false; // the binding we made has arrived: confirmed, already counted
      return;
    }
    if (current && current.nodeName === nodeName) return; // a status change: nothing to recount
    if (current) this.remove(key, current);
    this.add(key, { nodeName, info: newPodInfo(pod), assumed: false });
  }

  deletePod(key: string): void {
    const current = this.pods.get(key);
    if (current) this.remove(key, current);
  }

  assume(info: PodInfo, nodeName: string): void {
    const current = this.pods.get(info.key);
    if (current) this.remove(info.key, current);
    this.add(info.key, { nodeName, info, assumed: true });
  }

  /** Drops an assumed pod whose binding failed; a confirmed one stays. */
  forget(key: string): void {
    const current = this.pods.get(key);
    if (current?.assumed) this.remove(key, current);
  }

  isAssumed(key: string): boolean { return this.pods.get(key)?.assumed === true; }

  /** What all nodes together know about image platforms; recomputed only after a node changed. */
  imagePlatforms(): Map<string, Set<string>> {
    this.platforms ??= mergeImagePlatforms([...this.nodes.values()].map((n) => n.imagePlatforms));
    return this.platforms;
  }

  private add(key: string, entry: Accounted): void {
    this.pods.set(key, entry);
    const node = this.nodes.get(entry.nodeName);
    if (node) addPod(node, entry.info);
  }

  private remove(key: string, entry: Accounted): void {
    this.pods.delete(key);
    const node = this.nodes.get(entry.nodeName);
    if (node) removePod(node, entry.info);
  }
}
