// An in-memory ContainerRuntime: containers and images as plain records, with the engine's
// rules the agent relies on (labels, restart of stopped containers, missing images).
import type { ContainerConfig, ContainerInfo, ContainerRuntime, ImageEvent, ImageInfo, LogOptions, RuntimeEvent } from '../../agent/runtime/types.ts';
import { PassThrough } from 'node:stream';

export class FakeRuntime implements ContainerRuntime {
  readonly containers = new Map<string, ContainerInfo & { config: ContainerConfig }>();
  readonly images = new Map<string, ImageInfo>();
  pullError?: string;
  pulls: string[] = [];
  private next = 1;
  /** Address of containers on a named network (the pod network); the default bridge gives 172.17.0.9. */
  networkIps = new Map<string, string>();
  private ipFor(network: string | undefined): string { return (network && this.networkIps.get(network)) ?? '172.17.0.9'; }

  addImage(ref: string, architecture = 'amd64'): void {
    const tag = ref.includes(':') ? ref : `${ref}:latest`;
    this.images.set(tag, { id: `sha256:${tag}`, tags: [tag], sizeBytes: 1000, os: 'linux', architecture });
  }
  /** Simulates the process exiting. */
  exit(id: string, exitCode: number, at = new Date()): void {
    const c = this.containers.get(id)!;
    Object.assign(c, { status: 'exited', exitCode, finishedAt: at.toISOString() });
  }

  async version() { return { version: 'fake', apiVersion: '1.41' }; }
  async listContainers(labels: Record<string, string>) {
    return [...this.containers.values()].filter((c) => Object.entries(labels).every(([k, v]) => c.labels[k] === v)).map((c) => ({ ...c }));
  }
  async listContainerLabels(labels: Record<string, string>) {
    return (await this.listContainers(labels)).map(({ id, name, labels: l }) => ({ id, name, labels: l }));
  }
  async inspectContainer(id: string) { const c = this.containers.get(id); return c && { ...c }; }
  async createContainer(config: ContainerConfig) {
    if (!this.images.has(config.image.includes(':') ? config.image : `${config.image}:latest`)) throw new Error(`No such image: ${config.image}`);
    const id = `c${this.next++}`;
    this.containers.set(id, { id, name: config.name, labels: config.labels, image: config.image, imageId: 'sha256:x', status: 'created', exitCode: 0, oomKilled: false, error: '', createdAt: new Date().toISOString(), config });
    return id;
  }
  async startContainer(id: string) {
    const c = this.containers.get(id)!;
    // Containers in another's namespace (or the host's) have no address of their own, as in Docker.
    const own = !c.config.networkMode || !/^(container:|host$)/.test(c.config.networkMode);
    Object.assign(c, { status: 'running', startedAt: new Date().toISOString(), ...(own && { ip: this.ipFor(c.config.networkMode) }) });
  }
  async stopContainer(id: string) { const c = this.containers.get(id); if (c?.status === 'running') this.exit(id, 137); }
  async removeContainer(id: string) { this.containers.delete(id); }
  /** inspectImage calls: the agent should make one per image, not one per replica. */
  inspects = 0;
  async inspectImage(ref: string) { this.inspects++; return this.images.get(ref.includes(':') ? ref : `${ref}:latest`); }
  async listImages() { return [...this.images.values()]; }
  async pullImage(ref: string) { this.pulls.push(ref); if (this.pullError) throw new Error(this.pullError); this.addImage(ref); }
  async loadImage() { /* nothing to load in memory */ }
  async exec() { return { exitCode: 0, output: '' }; }
  // Exec sessions are tested against Docker itself (test/agent/exec.integration.test.ts).
  async openExec(): Promise<never> { throw new Error('the fake runtime runs no commands'); }
  async openAttach(): Promise<never> { throw new Error('the fake runtime runs no commands'); }
  async watchEvents(_l: Record<string, string>, _on: (e: RuntimeEvent) => void, signal: AbortSignal) {
    await new Promise<void>((r) => signal.addEventListener('abort', () => r()));
  }
  async watchImageEvents(_on: (e: ImageEvent) => void, signal: AbortSignal) {
    await new Promise<void>((r) => signal.addEventListener('abort', () => r()));
  }
  async logs(_id: string, _o: LogOptions) { const s = new PassThrough(); s.end('log line\n'); return s; }
}
