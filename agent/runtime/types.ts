// What the agent needs from a container engine. runtime/docker.ts implements it over the Docker
// API; tests use an in-memory implementation (test/agent/fake-runtime.ts). Nothing else in the
// agent talks to an engine.

/** Labels that tie every container to its node and pod (the agent's only record of ownership). */
export const labelKeys = {
  node: 'io.labkube.node',
  namespace: 'io.labkube.pod.namespace',
  pod: 'io.labkube.pod.name',
  uid: 'io.labkube.pod.uid',
  container: 'io.labkube.container.name',
  restartCount: 'io.labkube.restart-count',
  /** On an app container: the ID of the sandbox whose network namespace it joined. */
  sandbox: 'io.labkube.pod.sandbox',
} as const;

/**
 * The container-name label of a pod's sandbox (the container holding the pod's network
 * namespace, Kubernetes' pause container). Upper case, so no pod container (a DNS label) has it.
 */
export const sandboxContainerName = 'POD';

export interface PortBinding {
  containerPort: number;
  protocol: 'tcp' | 'udp' | 'sctp';
  hostPort?: number;
  hostIp?: string;
}

export interface ContainerConfig {
  name: string;
  image: string;
  /** Kubernetes' `command` replaces the image's entrypoint; `args` its cmd. */
  entrypoint?: string[];
  cmd?: string[];
  env: string[];
  workingDir?: string;
  /** Keep stdin open for attach; closed after the first attach lets go with `stdinOnce`; a terminal with `tty`. */
  stdin?: boolean;
  stdinOnce?: boolean;
  tty?: boolean;
  labels: Record<string, string>;
  ports: PortBinding[];
  memoryBytes?: number;
  nanoCpus?: number;
  /** Docker's network mode: a network name, `host`, or `container:<id>` to join that container's namespace; default bridge when unset. */
  networkMode?: string;
  /** Bind mounts as Docker writes them: `hostPath:containerPath[:ro]`. */
  binds?: string[];
}

export type ContainerStatusName = 'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead';

export interface ContainerInfo {
  id: string;
  name: string;
  labels: Record<string, string>;
  image: string;
  imageId: string;
  status: ContainerStatusName;
  exitCode: number;
  oomKilled: boolean;
  /** The engine's own error, such as a failed exec of the entrypoint. */
  error: string;
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  ip?: string;
}

/** A Docker bridge network as the pod network sees it. */
export interface NetworkInfo {
  name: string;
  id: string;
  subnet?: string;
  gateway?: string;
  /** Driver options (com.docker.network.bridge.name, ...). */
  options: Record<string, string>;
  labels: Record<string, string>;
  /** IDs of the containers attached to it. */
  containers: string[];
}

export interface NetworkSpec {
  name: string;
  subnet: string;
  gateway: string;
  options: Record<string, string>;
  labels: Record<string, string>;
}

/** What the pod network needs from the engine besides containers. */
export interface NetworkRuntime {
  /** The network by name; undefined when there is none. */
  inspectNetwork(name: string): Promise<NetworkInfo | undefined>;
  createNetwork(spec: NetworkSpec): Promise<void>;
  /** Removing a missing network is not an error. */
  removeNetwork(name: string): Promise<void>;
}

export interface ImageInfo {
  id: string;
  tags: string[];
  sizeBytes: number;
  os: string;
  architecture: string;
  variant?: string;
}

export interface RuntimeEvent {
  containerId: string;
  /** The engine's action: start, die, oom, destroy... */
  action: string;
  labels: Record<string, string>;
}

export interface ImageEvent {
  /** The engine's action: pull, tag, untag, delete, load, import... */
  action: string;
  /** The image's name or ID as the engine reports it. */
  ref: string;
}

export interface LogOptions { follow: boolean; tailLines?: number; timestamps: boolean; sinceSeconds?: number }

/** A command running in a container for a client (`kubectl exec`), its streams attached. */
export interface ExecSession {
  /** What the command writes; with a terminal, stderr is part of stdout and this ends empty. */
  readonly stdout: NodeJS.ReadableStream;
  readonly stderr: NodeJS.ReadableStream;
  /** Its input, when asked for: end() is the end of input. */
  readonly stdin?: NodeJS.WritableStream;
  /** Resizes the terminal (with a TTY only). */
  resize(width: number, height: number): Promise<void>;
  /** The exit code, once the command has ended and stdout and stderr have ended. */
  readonly exitCode: Promise<number>;
  /** Lets go of the streams (the client went away). */
  close(): void;
}

export interface ContainerRuntime {
  version(): Promise<{ version: string; apiVersion: string }>;
  /** Every container (running or not) carrying all of these labels. */
  listContainers(labels: Record<string, string>): Promise<ContainerInfo[]>;
  /** Only the IDs, names and labels of those containers: one engine call, where listContainers inspects each. */
  listContainerLabels(labels: Record<string, string>): Promise<Pick<ContainerInfo, 'id' | 'name' | 'labels'>[]>;
  /** One container by ID; undefined when it is gone. */
  inspectContainer(id: string): Promise<ContainerInfo | undefined>;
  createContainer(config: ContainerConfig): Promise<string>;
  startContainer(id: string): Promise<void>;
  /** SIGTERM, then SIGKILL after `graceSeconds`. Stopping a stopped container is not an error. */
  stopContainer(id: string, graceSeconds: number): Promise<void>;
  /** Removing a missing container is not an error. */
  removeContainer(id: string): Promise<void>;
  inspectImage(ref: string): Promise<ImageInfo | undefined>;
  listImages(): Promise<ImageInfo[]>;
  pullImage(ref: string): Promise<void>;
  loadImage(tarPath: string): Promise<void>;
  exec(id: string, command: string[], timeoutMs: number): Promise<{ exitCode: number; output: string }>;
  /** Starts `command` in a running container with its streams attached, for a client to drive. */
  openExec(id: string, options: { command: string[]; stdin: boolean; tty: boolean }): Promise<ExecSession>;
  /** Attaches to a running container's own process (`kubectl attach`); the session ends with it, exit code 0. */
  openAttach(id: string, options: { stdin: boolean; tty: boolean }): Promise<ExecSession>;
  /** Streams container events for containers with these labels until `signal` aborts or the stream fails. */
  watchEvents(labels: Record<string, string>, onEvent: (e: RuntimeEvent) => void, signal: AbortSignal): Promise<void>;
  /** Streams image events (anything that may change what a reference names) until `signal` aborts or the stream fails. */
  watchImageEvents(onEvent: (e: ImageEvent) => void, signal: AbortSignal): Promise<void>;
  logs(id: string, options: LogOptions): Promise<NodeJS.ReadableStream>;
}
