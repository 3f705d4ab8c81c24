// Routes each key to the store for its resource: Leases to memory, everything else to SQLite.
// The API server sees one Store and never knows where an object lives.
import type { KubeObject } from '../api/meta.ts';
import type { JsonListResult, ListResult, Store, StoreEvent, Unsubscribe } from './types.ts';

export class RoutedStore implements Store {
  constructor(private readonly disk: Store, private readonly memory: Store, private readonly memoryPrefixes: string[]) {}

  private pick(key: string): Store {
    return this.memoryPrefixes.some((p) => key.startsWith(p)) ? this.memory : this.disk;
  }

  get(key: string): KubeObject | undefined { return this.pick(key).get(key); }
  list(prefix: string): ListResult { return this.pick(prefix).list(prefix); }
  listJson(prefix: string): JsonListResult { return this.pick(prefix).listJson(prefix); }
  create(key: string, obj: KubeObject): KubeObject { return this.pick(key).create(key, obj); }
  update(key: string, obj: KubeObject, rev?: number): KubeObject { return this.pick(key).update(key, obj, rev); }
  delete(key: string, rev?: number): KubeObject { return this.pick(key).delete(key, rev); }
  watch(prefix: string, after: number | undefined, onEvent: (e: StoreEvent) => void): Unsubscribe {
    return this.pick(prefix).watch(prefix, after, onEvent);
  }
  async sync(): Promise<void> { await Promise.all([this.disk.sync(), this.memory.sync()]); }
  /** Without a prefix, the disk store's revision: the one that counts durable writes. */
  revision(prefix?: string): number { return prefix === undefined ? this.disk.revision() : this.pick(prefix).revision(); }
  compactedRevision(): number { return this.disk.compactedRevision(); }
  close(): void { this.disk.close(); this.memory.close(); }
}
