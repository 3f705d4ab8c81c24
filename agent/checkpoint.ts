// The agent's edge store: the pods bound to this node, kept in DATA_DIR/pods.json so that a board
// rebooted while the control plane is unreachable starts its pods anyway (KubeEdge keeps the
// same in its edge SQLite store). The API server stays the source of truth: once it answers, the
// agent reconciles with it, and pods deleted meanwhile are stopped.
//
// Written for an SD card: only what running a pod needs is kept (metadata that names it, its spec,
// and a terminal phase, which must not run again), so the status writes that change a pod all
// day change nothing here; a write happens only when that content changes, bursts (thirty pods
// scheduled at once) coalesce into one write, and each write is a new file renamed over the old,
// so a power cut leaves the old checkpoint or the new one, never half of one. Mode 0600: pod
// specs carry environment values.
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Pod } from '../control-plane/api/core.ts';
import type { KubeObject } from '../control-plane/api/meta.ts';

export type CheckpointedPod = Pod & KubeObject;

interface CheckpointFile { version: 1; node: string; pods: CheckpointedPod[] }

export interface PodCheckpointOptions {
  dataDir: string;
  nodeName: string;
  logger?: Logger;
  /** How long a change waits for more before the write: a scheduling burst makes one write. */
  debounceMs?: number;
}

// One second: a burst of pods bound at once is one write, and a reboot a second after a pod
// was bound is the only loss (that pod then starts when the control plane answers).
const defaultDebounceMs = 1_000;

/** What running `pod` needs, and nothing that changes while it runs. */
export function checkpointOf(pod: CheckpointedPod): CheckpointedPod {
  const m = pod.metadata;
  const terminal = pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed';
  return {
    apiVersion: pod.apiVersion ?? 'v1', kind: pod.kind ?? 'Pod',
    metadata: {
      name: m.name, namespace: m.namespace, uid: m.uid,
      ...(m.labels && { labels: m.labels }),
      ...(m.annotations && { annotations: m.annotations }),
      ...(m.ownerReferences && { ownerReferences: m.ownerReferences }),
      ...(m.creationTimestamp && { creationTimestamp: m.creationTimestamp }),
      ...(m.deletionTimestamp && { deletionTimestamp: m.deletionTimestamp }),
      ...(m.deletionGracePeriodSeconds !== undefined && { deletionGracePeriodSeconds: m.deletionGracePeriodSeconds }),
    },
    spec: pod.spec,
    // A finished pod must not run again after a reboot; the phase of a running one changes nothing here.
    ...(terminal && { status: { phase: pod.status!.phase } }),
  } as CheckpointedPod;
}

export class PodCheckpoint {
  readonly path: string;
  /** The content on disk (loaded or last written): the same content is never written again. */
  private onDisk?: string;
  private pending?: CheckpointedPod[];
  private timer?: NodeJS.Timeout;
  /** Files written since start: tests count them. */
  writes = 0;

  constructor(private readonly o: PodCheckpointOptions) {
    this.path = join(o.dataDir, 'pods.json');
  }

  /** The pods of the last checkpoint; none when there is none, or it is unreadable (said once). */
  load(): CheckpointedPod[] {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch {
      return []; // no checkpoint yet: a first start
    }
    try {
      const file = JSON.parse(text) as CheckpointFile;
      if (file.version !== 1 || file.node !== this.o.nodeName || !Array.isArray(file.pods)) throw new Error(`not a checkpoint of node ${this.o.nodeName}`);
      this.onDisk = text;
      return file.pods;
    } catch (err) {
      this.o.logger?.warn({ path: this.path, err: (err as Error).message }, 'pod checkpoint unreadable; pods start when the control plane answers');
      return [];
    }
  }

  /** Records the pods now bound to this node; written after the debounce if the content changed. */
  save(pods: CheckpointedPod[]): void {
    this.pending = pods;
    this.timer ??= setTimeout(() => { this.timer = undefined; this.flush(); }, this.o.debounceMs ?? defaultDebounceMs);
  }

  /** Writes a pending change now (the agent is stopping). */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const pods = this.pending;
    this.pending = undefined;
    if (!pods) return;
    const file: CheckpointFile = {
      version: 1, node: this.o.nodeName,
      pods: pods.map(checkpointOf).sort((a, b) => (a.metadata.uid! < b.metadata.uid! ? -1 : 1)),
    };
    const text = `${JSON.stringify(file)}\n`;
    if (text === this.onDisk) return;
    try {
      this.writeAtomically(text);
      this.onDisk = text;
      this.writes++;
    } catch (err) {
      // A full or read-only card: the agent runs on, with an older checkpoint.
      this.o.logger?.warn({ path: this.path, err: (err as Error).message }, 'pod checkpoint not written');
    }
  }

  stop(): void { this.flush(); }

  private writeAtomically(text: string): void {
    mkdirSync(this.o.dataDir, { recursive: true, mode: 0o700 });
    const tmp = `${this.path}.tmp`;
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.path);
    // The rename itself is durable once the directory is synced.
    const dir = openSync(this.o.dataDir, 'r');
    try { fsyncSync(dir); } finally { closeSync(dir); }
  }
}
