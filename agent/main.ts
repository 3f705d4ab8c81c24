// `labkube agent`: flags only; NodeAgent (agent.ts) does the work.
import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { pino, type Logger } from 'pino';
import { parseCidr } from '../control-plane/api/ip.ts';
import { sendFirstHeartbeat } from './first-heartbeat.ts';
import { defaultBackoff } from './backoff.ts';

function nonNegativeInt(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('expected a whole number');
  return Number(value);
}
function positiveInt(value: string): number {
  const n = nonNegativeInt(value);
  if (n === 0) throw new InvalidArgumentError('expected a whole number above 0');
  return n;
}
function positiveNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a positive number');
  return n;
}
function bytes(value: string): number {
  const m = /^(\d+)(Ki|Mi|Gi)?$/.exec(value);
  if (!m) throw new InvalidArgumentError('expected bytes, for example 256Mi');
  const unit: Record<string, number> = { '': 1, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3 };
  return Number(m[1]) * unit[m[2] ?? '']!;
}

/**
 * The last line of defence: a rejection no task handled, or an exception thrown from a socket or
 * stream nobody listened to, is logged and counted instead of ending the agent (its pods run
 * on, and every loop in the agent retries by itself). Every path the agent knows of handles its
 * own failures, so a count above zero is a bug to report. An exception that is not a system
 * error (a TypeError, say) is a bug whose damage is unknown: that one is logged and the agent
 * exits, for its service manager to restart it; a restarted agent adopts its running pods.
 */
export interface ProcessGuard { readonly unhandledRejections: number; readonly uncaughtExceptions: number }

/** A system error (ECONNRESET, EPIPE, ENETUNREACH...) from a socket: the network, not the program. */
function isSystemError(err: unknown): boolean {
  const e = err as NodeJS.ErrnoException | undefined;
  return typeof e?.code === 'string' && /^E[A-Z]+$/.test(e.code) && (e.syscall !== undefined || e.errno !== undefined);
}

export function installProcessGuard(logger: Logger, proc: NodeJS.EventEmitter = process, exit: (code: number) => void = (c) => process.exit(c)): ProcessGuard {
  const counts = { unhandledRejections: 0, uncaughtExceptions: 0 };
  const describe = (err: unknown) => (err instanceof Error ? { err: err.message, stack: err.stack } : { err: String(err) });
  proc.on('unhandledRejection', (reason: unknown) => {
    counts.unhandledRejections++;
    logger.error({ ...describe(reason), unhandledRejections: counts.unhandledRejections }, 'unhandled rejection (a bug: please report it); the agent keeps running');
  });
  proc.on('uncaughtException', (err: unknown) => {
    counts.uncaughtExceptions++;
    if (isSystemError(err)) {
      logger.error({ ...describe(err), uncaughtExceptions: counts.uncaughtExceptions }, 'uncaught network error (a bug: please report it); the agent keeps running');
      return;
    }
    logger.fatal({ ...describe(err) }, 'uncaught exception; exiting (the pods keep running, a restarted agent adopts them)');
    exit(1);
  });
  return counts;
}

interface AgentFlags {
  server: string; tokenFile: string; caFile?: string; name: string; dataDir: string; dockerSocket: string; nodeIp: string;
  port: number; leaseInterval: number; reservedCpu: number; reservedMemory: number; maxPods: number; crashBackoff: number;
  parallelStarts: number; logLevel: string; podNetwork: 'auto' | 'none'; clusterCidr: string; clusterDnsPort: number;
}

function cidr(value: string): string {
  if (!parseCidr(value)) throw new InvalidArgumentError('expected an IPv4 CIDR such as 10.42.0.0/16');
  return value;
}

function podNetworkMode(value: string): 'auto' | 'none' {
  if (value !== 'auto' && value !== 'none') throw new InvalidArgumentError('expected auto or none');
  return value;
}

export function registerAgentCommand(program: Command): Command {
  return program.command('agent')
    .description('join this machine to a cluster and run the pods bound to it as Docker containers')
    .requiredOption('--server <url>', 'the API server, for example https://10.0.0.1:6443')
    .requiredOption('--token-file <file>', 'the join token (the server\'s DATA_DIR/join-token)')
    .option('--ca-file <file>', 'the cluster CA certificate (default: ca.crt next to the token file)')
    .option('--name <name>', 'the node name', hostname().toLowerCase())
    .option('--data-dir <dir>', 'the agent\'s credential, serving cert and airgap images (images/*.tar)', './.labkube-agent')
    .option('--docker-socket <path>', 'the Docker engine socket', '/var/run/docker.sock')
    .option('--node-ip <ip>', 'the node\'s InternalIP: hostPorts and the log server listen here', '127.0.0.1')
    // 10250 is the kubelet's port; tests pass 0 for a free one.
    .option('--port <port>', 'the log server port', nonNegativeInt, 10250)
    // 2 s: the control plane marks a node NotReady after 6 s, three missed heartbeats.
    .option('--lease-interval <seconds>', 'how often the node Lease is renewed', positiveNumber, 2)
    // A small board needs some CPU and memory for the OS and the agent itself.
    .option('--reserved-cpu <millicores>', 'CPU kept from pods (allocatable = capacity - reserve)', nonNegativeInt, 100)
    .option('--reserved-memory <bytes>', 'memory kept from pods', bytes, 128 * 1024 ** 2)
    // Kubernetes' default --max-pods.
    .option('--max-pods <n>', 'pods this node accepts', nonNegativeInt, 110)
    .option('--crash-backoff <seconds>', 'first crash-loop backoff (doubles to 5 min; Kubernetes uses 10 s)', positiveNumber, defaultBackoff.baseMs / 1000)
    // 8: measured with thirty nginx pods on a 2-CPU host, the median Running time is lowest
    // between 4 and 8 at once; 8 leaves room for a 4-core board. See agent/start-queue.ts.
    .option('--parallel-starts <n>', 'containers created and started at once; more wait their turn', positiveInt, 8)
    .option('--pod-network <mode>', 'auto: a pod network on this node\'s podCIDR, the Service proxy and cluster DNS (needs root and iptables); none: Docker\'s default bridge, no Services', podNetworkMode, 'auto')
    // k3s' default cluster CIDR; it must match the control plane's --cluster-cidr.
    .option('--cluster-cidr <cidr>', 'the pod addresses of the whole cluster (not masqueraded between nodes)', cidr, '10.42.0.0/16')
    .option('--cluster-dns-port <port>', 'the port of the cluster DNS server on the pod bridge\'s gateway', nonNegativeInt, 53)
    .option('--log-level <level>', 'pino log level', 'info')
    .action(async (flags: AgentFlags) => {
      const logger = pino({ name: 'labkube-agent', level: flags.logLevel });
      installProcessGuard(logger);
      const caFile = flags.caFile ?? join(dirname(flags.tokenFile), 'ca.crt');
      if (!existsSync(caFile)) throw new Error(`no CA certificate at ${caFile}; pass --ca-file`);
      const ca = readFileSync(caFile, 'utf8');
      // The heartbeat before the agent is even loaded (first-heartbeat.ts): a restart must not look like a dead node.
      // Waiting for it costs one round trip; an unreachable control plane costs at most a lease interval.
      const beat = await sendFirstHeartbeat({ server: flags.server, ca, dataDir: flags.dataDir, nodeName: flags.name, leaseIntervalMs: flags.leaseInterval * 1000, timeoutMs: flags.leaseInterval * 1000 });
      // process.uptime(), not performance.now(): the `performance` global loads perf_hooks, 0.2 MB of heap.
      const sinceProcessStartMs = Math.round(process.uptime() * 1000);
      if (beat.renewed) logger.info({ sinceProcessStartMs }, 'first heartbeat: node lease renewed');
      else logger.debug({ why: beat.why, sinceProcessStartMs }, 'no early heartbeat; the agent renews the lease once loaded');
      const { NodeAgent } = await import('./agent.ts');
      const agent = new NodeAgent({
        server: flags.server, joinToken: readFileSync(flags.tokenFile, 'utf8').trim(), ca,
        nodeName: flags.name, nodeIp: flags.nodeIp, dataDir: flags.dataDir, dockerSocket: flags.dockerSocket, logPort: flags.port,
        leaseIntervalMs: flags.leaseInterval * 1000, reserve: { cpuMilli: flags.reservedCpu, memoryBytes: flags.reservedMemory },
        maxPods: flags.maxPods, parallelStarts: flags.parallelStarts,
        podNetwork: flags.podNetwork, clusterCidr: flags.clusterCidr, dnsPort: flags.clusterDnsPort, backoff: { ...defaultBackoff, baseMs: flags.crashBackoff * 1000 }, logger,
      });
      const stop = async (signal: string) => {
        logger.info({ signal }, 'agent stopping; containers keep running');
        await agent.stop();
        process.exit(0);
      };
      process.once('SIGTERM', () => void stop('SIGTERM'));
      process.once('SIGINT', () => void stop('SIGINT'));
      await agent.start();
    });
}

/** `labkube-agent uninstall`: removes what the agent put on this board (uninstall.ts); run with the agent stopped. */
export function registerUninstallCommand(program: Command): Command {
  return program.command('uninstall')
    .description('remove this node\'s pod containers, its pod network, routes and Service rules (stop the agent first)')
    .option('--name <name>', 'the node name', hostname().toLowerCase())
    .option('--data-dir <dir>', 'the agent\'s data directory', './.labkube-agent')
    .option('--docker-socket <path>', 'the Docker engine socket', '/var/run/docker.sock')
    .action(async (flags: { name: string; dataDir: string; dockerSocket: string }) => {
      const logger = pino({ name: 'labkube-agent' });
      // Loaded here only: it brings the Docker client, which the agent loads after its first heartbeat.
      const { uninstallNode } = await import('./uninstall.ts');
      await uninstallNode({ nodeName: flags.name, dataDir: flags.dataDir, dockerSocket: flags.dockerSocket, logger });
    });
}
