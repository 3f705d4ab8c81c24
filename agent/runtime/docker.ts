// The agent's container runtime over the Docker Engine API (dockerode). The only file that talks
// to Docker; it turns Docker's shapes into runtime/types.ts and nothing more.
import { createReadStream } from 'node:fs';
import { PassThrough, type Duplex } from 'node:stream';
import Docker from 'dockerode';
import type {
  ContainerConfig, ContainerInfo, ContainerRuntime, ContainerStatusName, ExecSession, ImageEvent, ImageInfo, LogOptions, NetworkInfo, NetworkRuntime, NetworkSpec, RuntimeEvent,
} from './types.ts';

const labelFilter = (labels: Record<string, string>) => Object.entries(labels).map(([k, v]) => `${k}=${v}`);
const dockerTime = (t: string | undefined) => (t && !t.startsWith('0001-') ? t : undefined);
const statusCode = (err: unknown) => (err as { statusCode?: number }).statusCode;

// An engine call that never answers (a wedged daemon, a request lost on a busy socket) would hold
// its pod's sync, and a start-queue slot, forever: thirty pods then wait on the one that never
// comes back. Every short call has a deadline; two minutes is far beyond the slowest create or
// start seen on a loaded 2-core machine (tens of seconds), so a merely slow engine is waited for.
// Pulls, image loads, logs and event streams are long by nature and have none.
const engineCallMs = 120_000;
const deadline = (extraMs = 0) => ({ abortSignal: AbortSignal.timeout(engineCallMs + extraMs) });
/** The same deadline for the few calls dockerode gives no abort signal to: the caller stops waiting. */
function withDeadline<T>(call: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the engine did not answer ${what} within ${engineCallMs / 1000} s`)), engineCallMs);
  });
  return Promise.race([call, expired]).finally(() => clearTimeout(timer));
}

/** Reads a pull/load progress stream to its end, failing on the first error message in it. */
function followProgress(modem: Docker['modem'], stream: NodeJS.ReadableStream): Promise<void> {
  return new Promise((resolve, reject) => {
    modem.followProgress(stream, (err: Error | null, output: { error?: string; errorDetail?: { message?: string } }[]) => {
      if (err) return reject(err);
      const failed = output.find((o) => o.error || o.errorDetail);
      if (failed) return reject(new Error(failed.errorDetail?.message ?? failed.error));
      resolve();
    });
  });
}

/** The container's address on its one network (the default bridge, or the pod network for a sandbox); none for `container:` mode. */
function bridgeIp(c: Docker.ContainerInspectInfo): string | undefined {
  return Object.values(c.NetworkSettings.Networks ?? {}).map((n) => n.IPAddress).find(Boolean) || undefined;
}

/** Splits Docker's multiplexed stdout/stderr frames (8-byte headers) from a buffer. */
function demuxBuffer(buf: Buffer): Buffer {
  const out: Buffer[] = [];
  let i = 0;
  while (i + 8 <= buf.length) {
    const size = buf.readUInt32BE(i + 4);
    out.push(buf.subarray(i + 8, i + 8 + size));
    i += 8 + size;
  }
  return Buffer.concat(out);
}

interface EngineEvent { id?: string; Action?: string; status?: string; Actor?: { ID?: string; Attributes?: Record<string, string> } }

export class DockerRuntime implements ContainerRuntime, NetworkRuntime {
  private readonly docker: Docker;

  constructor(socketPath = '/var/run/docker.sock') {
    this.docker = new Docker({ socketPath });
  }

  async version(): Promise<{ version: string; apiVersion: string }> {
    const v = await withDeadline(this.docker.version(), 'a version request');
    return { version: v.Version, apiVersion: v.ApiVersion };
  }

  async listContainers(labels: Record<string, string>): Promise<ContainerInfo[]> {
    const list = await this.docker.listContainers({ all: true, filters: { label: labelFilter(labels) }, ...deadline() });
    const infos = await Promise.all(list.map((c) => this.inspectContainer(c.Id)));
    return infos.filter((c): c is ContainerInfo => c !== undefined);
  }

  async listContainerLabels(labels: Record<string, string>): Promise<Pick<ContainerInfo, 'id' | 'name' | 'labels'>[]> {
    const list = await this.docker.listContainers({ all: true, filters: { label: labelFilter(labels) }, ...deadline() });
    return list.map((c) => ({ id: c.Id, name: (c.Names?.[0] ?? '').replace(/^\//, ''), labels: c.Labels ?? {} }));
  }

  async inspectContainer(id: string): Promise<ContainerInfo | undefined> {
    try {
      const c = await this.docker.getContainer(id).inspect(deadline());
      const s = c.State;
      return {
        id: c.Id, name: c.Name.replace(/^\//, ''), labels: c.Config.Labels ?? {}, image: c.Config.Image, imageId: c.Image,
        status: s.Status as ContainerStatusName, exitCode: s.ExitCode, oomKilled: s.OOMKilled, error: s.Error ?? '',
        createdAt: c.Created,
        ...(dockerTime(s.StartedAt) && { startedAt: dockerTime(s.StartedAt) }),
        ...(dockerTime(s.FinishedAt) && { finishedAt: dockerTime(s.FinishedAt) }),
        ...(bridgeIp(c) && { ip: bridgeIp(c) }),
      };
    } catch (err) {
      if (statusCode(err) === 404) return undefined; // removed between list and inspect
      throw err;
    }
  }

  async createContainer(config: ContainerConfig): Promise<string> {
    const exposed: Record<string, object> = {};
    const bindings: Record<string, { HostIp?: string; HostPort: string }[]> = {};
    for (const p of config.ports) {
      const key = `${p.containerPort}/${p.protocol}`;
      exposed[key] = {};
      if (p.hostPort) (bindings[key] ??= []).push({ HostPort: String(p.hostPort), ...(p.hostIp && { HostIp: p.hostIp }) });
    }
    const container = await this.docker.createContainer({
      name: config.name, Image: config.image, Env: config.env, Labels: config.labels, ExposedPorts: exposed,
      ...(config.entrypoint && { Entrypoint: config.entrypoint }),
      ...(config.cmd && { Cmd: config.cmd }),
      ...(config.workingDir && { WorkingDir: config.workingDir }),
      ...(config.stdin && { OpenStdin: true, StdinOnce: Boolean(config.stdinOnce), AttachStdin: true }),
      ...(config.tty && { Tty: true }),
      HostConfig: {
        PortBindings: bindings,
        ...(config.networkMode && { NetworkMode: config.networkMode }),
        ...(config.binds?.length && { Binds: config.binds }),
        ...(config.memoryBytes && { Memory: config.memoryBytes }),
        ...(config.nanoCpus && { NanoCpus: config.nanoCpus }),
      },
      ...deadline(),
    });
    return container.id;
  }

  async startContainer(id: string): Promise<void> {
    try {
      await this.docker.getContainer(id).start(deadline());
    } catch (err) {
      if (statusCode(err) !== 304) throw err; // already started
    }
  }

  async stopContainer(id: string, graceSeconds: number): Promise<void> {
    try {
      await this.docker.getContainer(id).stop({ t: graceSeconds, ...deadline(graceSeconds * 1000) }); // the engine waits out the grace first
    } catch (err) {
      if (statusCode(err) !== 304 && statusCode(err) !== 404) throw err; // already stopped or gone
    }
  }

  async removeContainer(id: string): Promise<void> {
    try {
      await this.docker.getContainer(id).remove({ force: true, v: true, ...deadline() });
    } catch (err) {
      // 404: gone already; 409: removal already in progress.
      if (statusCode(err) !== 404 && statusCode(err) !== 409) throw err;
    }
  }

  async inspectNetwork(name: string): Promise<NetworkInfo | undefined> {
    try {
      const n = await withDeadline(this.docker.getNetwork(name).inspect() as Promise<Docker.NetworkInspectInfo>, `an inspect of network ${name}`);
      // A name lookup also matches ID prefixes; only the exact name is ours.
      if (n.Name !== name) return undefined;
      const ipam = n.IPAM?.Config?.[0];
      return {
        name: n.Name, id: n.Id, options: n.Options ?? {}, labels: n.Labels ?? {}, containers: Object.keys(n.Containers ?? {}),
        ...(ipam?.Subnet && { subnet: ipam.Subnet }), ...(ipam?.Gateway && { gateway: ipam.Gateway }),
      };
    } catch (err) {
      if (statusCode(err) === 404) return undefined;
      throw err;
    }
  }

  async createNetwork(spec: NetworkSpec): Promise<void> {
    await this.docker.createNetwork({
      Name: spec.name, Driver: 'bridge', CheckDuplicate: true, Options: spec.options, Labels: spec.labels,
      IPAM: { Driver: 'default', Config: [{ Subnet: spec.subnet, Gateway: spec.gateway }] },
      ...deadline(),
    });
  }

  async removeNetwork(name: string): Promise<void> {
    try {
      await this.docker.getNetwork(name).remove(deadline());
    } catch (err) {
      if (statusCode(err) !== 404) throw err;
    }
  }

  async inspectImage(ref: string): Promise<ImageInfo | undefined> {
    try {
      const i = await withDeadline(this.docker.getImage(ref).inspect(), `an inspect of image ${ref}`);
      const variant = (i as { Variant?: string }).Variant; // in the Engine API since 1.40, missing from the typings
      return { id: i.Id, tags: i.RepoTags ?? [], sizeBytes: i.Size, os: i.Os, architecture: i.Architecture, ...(variant && { variant }) };
    } catch (err) {
      if (statusCode(err) === 404) return undefined;
      throw err;
    }
  }

  async listImages(): Promise<ImageInfo[]> {
    const list = await this.docker.listImages(deadline());
    const infos = await Promise.all(list.map((i) => this.inspectImage(i.Id)));
    return infos.filter((i): i is ImageInfo => i !== undefined);
  }

  async pullImage(ref: string): Promise<void> {
    const stream = await this.docker.pull(ref) as NodeJS.ReadableStream;
    await followProgress(this.docker.modem, stream);
  }

  async loadImage(tarPath: string): Promise<void> {
    const stream = await this.docker.loadImage(createReadStream(tarPath)) as NodeJS.ReadableStream;
    await followProgress(this.docker.modem, stream);
  }

  async exec(id: string, command: string[], timeoutMs: number): Promise<{ exitCode: number; output: string }> {
    const exec = await this.docker.getContainer(id).exec({ Cmd: command, AttachStdout: true, AttachStderr: true });
    const stream = await exec.start({ hijack: true, stdin: false });
    const sink = new PassThrough();
    let output = '';
    sink.on('data', (d: Buffer) => { if (output.length < 10_240) output += d.toString('utf8'); });
    this.docker.modem.demuxStream(stream, sink, sink);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { stream.destroy(); reject(new Error(`command timed out after ${timeoutMs} ms`)); }, timeoutMs);
      stream.on('end', () => { clearTimeout(timer); resolve(); });
      stream.on('close', () => { clearTimeout(timer); resolve(); });
      stream.on('error', (err) => { clearTimeout(timer); reject(err); });
    });
    const info = await exec.inspect();
    return { exitCode: info.ExitCode ?? -1, output };
  }

  async openExec(id: string, options: { command: string[]; stdin: boolean; tty: boolean }): Promise<ExecSession> {
    const exec = await this.docker.getContainer(id).exec({
      Cmd: options.command, AttachStdin: options.stdin, AttachStdout: true, AttachStderr: true, Tty: options.tty,
    });
    // Hijacked: one raw connection carries input one way and output the other; ending its
    // writable side is the end of input, and Docker closes it when the command is done.
    const stream = await exec.start({ hijack: true, stdin: options.stdin, Tty: options.tty }) as Duplex;
    return this.session(stream, options, async () => {
      // The stream can end a moment before the engine records the exit.
      for (let attempt = 0; attempt < 50; attempt++) {
        const info = await exec.inspect();
        if (!info.Running && info.ExitCode !== null && info.ExitCode !== undefined) return info.ExitCode;
        await new Promise((r) => setTimeout(r, 20));
      }
      return -1;
    }, (w, h) => exec.resize({ w, h }));
  }

  async openAttach(id: string, options: { stdin: boolean; tty: boolean }): Promise<ExecSession> {
    const container = this.docker.getContainer(id);
    const stream = await container.attach({ stream: true, stdin: options.stdin, stdout: true, stderr: true, hijack: true }) as Duplex;
    return this.session(stream, options, async () => 0, (w, h) => container.resize({ w, h }));
  }

  /** A hijacked engine connection as an ExecSession: demultiplexed unless it is a terminal's. */
  private session(stream: Duplex, options: { stdin: boolean; tty: boolean }, exitCodeOf: () => Promise<number>,
    resize: (w: number, h: number) => Promise<unknown>): ExecSession {
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    if (options.tty) stream.pipe(stdout);
    else this.docker.modem.demuxStream(stream, stdout, stderr);
    const ended = new Promise<void>((resolve) => {
      stream.once('end', resolve);
      stream.once('close', resolve);
      stream.once('error', () => resolve());
    });
    return {
      stdout, stderr,
      ...(options.stdin && { stdin: stream }),
      resize: async (width, height) => { await resize(width, height); },
      exitCode: ended.then(() => { stdout.end(); stderr.end(); return exitCodeOf(); }),
      close: () => stream.destroy(),
    };
  }

  async watchEvents(labels: Record<string, string>, onEvent: (e: RuntimeEvent) => void, signal: AbortSignal): Promise<void> {
    await this.follow({ type: ['container'], label: labelFilter(labels) }, signal, (e) => {
      onEvent({ containerId: e.Actor?.ID ?? e.id ?? '', action: e.Action ?? e.status ?? '', labels: e.Actor?.Attributes ?? {} });
    });
  }

  async watchImageEvents(onEvent: (e: ImageEvent) => void, signal: AbortSignal): Promise<void> {
    await this.follow({ type: ['image'] }, signal, (e) => onEvent({ action: e.Action ?? e.status ?? '', ref: e.Actor?.ID ?? e.id ?? '' }));
  }

  /** Streams engine events matching `filters` until `signal` aborts (returns) or the stream fails or ends (throws). */
  private async follow(filters: Record<string, string[]>, signal: AbortSignal, onEvent: (e: EngineEvent) => void): Promise<void> {
    const stream = await this.docker.getEvents({ filters }) as NodeJS.ReadableStream & { destroy(): void };
    const abort = () => stream.destroy();
    signal.addEventListener('abort', abort, { once: true });
    let buffered = '';
    try {
      for await (const chunk of stream) {
        buffered += chunk.toString();
        let nl: number;
        while ((nl = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, nl).trim();
          buffered = buffered.slice(nl + 1);
          if (line) onEvent(JSON.parse(line) as EngineEvent);
        }
      }
    } catch (err) {
      if (!signal.aborted) throw err;
    } finally {
      signal.removeEventListener('abort', abort);
    }
    if (!signal.aborted) throw new Error('the Docker event stream ended');
  }

  async logs(id: string, options: LogOptions): Promise<NodeJS.ReadableStream> {
    const container = this.docker.getContainer(id);
    const common = {
      stdout: true, stderr: true, timestamps: options.timestamps,
      ...(options.tailLines !== undefined && { tail: options.tailLines }),
      ...(options.sinceSeconds !== undefined && { since: Math.floor(Date.now() / 1000) - options.sinceSeconds }),
    };
    const out = new PassThrough();
    // A terminal's output is one raw stream, not stdout and stderr framed apart.
    const tty = Boolean((await container.inspect()).Config?.Tty);
    if (options.follow) {
      const stream = await container.logs({ ...common, follow: true });
      if (tty) stream.pipe(out);
      else this.docker.modem.demuxStream(stream, out, out);
      stream.on('end', () => out.end());
      stream.on('error', (err) => out.destroy(err));
      out.on('close', () => (stream as NodeJS.ReadableStream & { destroy(): void }).destroy());
    } else {
      const buf = await container.logs({ ...common, follow: false });
      out.end(tty ? buf : demuxBuffer(buf));
    }
    return out;
  }
}
