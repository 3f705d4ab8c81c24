// The `labkube` command: `labkube server` runs the control plane. main only parses flags and
// starts things; everything it starts is a module with its own tests.
import { Command, InvalidArgumentError } from 'commander';
import { pino } from 'pino';
import { registerAgentCommand } from '../agent/main.ts';
import { parseCidr } from './api/ip.ts';
import { startServer } from './server.ts';

function hostPort(value: string): { host: string; port: number } {
  const m = /^(.*):(\d+)$/.exec(value);
  if (!m || Number(m[2]) > 65535) throw new InvalidArgumentError('expected HOST:PORT, for example 0.0.0.0:6443');
  return { host: m[1]!.replace(/^\[|\]$/g, '') || '0.0.0.0', port: Number(m[2]) };
}

function positiveInt(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) <= 0) throw new InvalidArgumentError('expected a positive whole number');
  return Number(value);
}

function nonNegativeInt(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('expected a whole number');
  return Number(value);
}

function cidr(value: string): string {
  if (!parseCidr(value)) throw new InvalidArgumentError('expected an IPv4 CIDR such as 10.42.0.0/16');
  return value;
}

const program = new Command('labkube').description('A small Kubernetes for hardware labs').showHelpAfterError();

program.command('server')
  .description('run the control plane: store, API server and controllers')
  .option('--data-dir <dir>', 'where the database, tokens and kubeconfig live', './.labkube')
  .option('--listen <host:port>', 'address to serve the API on', hostPort, { host: '0.0.0.0', port: 6443 })
  .option('--tls-san <name>', 'extra name or address for the serving certificate (repeatable)', (v: string, all: string[]) => [...all, v], [] as string[])
  .option('--history-revisions <n>', 'watch history kept, in revisions', positiveInt, 10_000)
  .option('--history-age <seconds>', 'watch history kept, in seconds', positiveInt, 300)
  .option('--node-grace-period <seconds>', 'a node with no heartbeat for this long is NotReady (3 missed 2 s heartbeats)', positiveInt, 6)
  .option('--default-toleration-seconds <seconds>', 'how long pods stay on an unreachable node before eviction', nonNegativeInt, 2)
  // k3s' defaults; the agents' --cluster-cidr must match this one.
  .option('--cluster-cidr <cidr>', 'pod addresses; each node gets a /24 of it', cidr, '10.42.0.0/16')
  .option('--service-cidr <cidr>', 'Service ClusterIPs', cidr, '10.43.0.0/16')
  .option('--service-node-port-range <first-last>', 'ports NodePort Services get', '30000-32767')
  .action(async (opts: { dataDir: string; listen: { host: string; port: number }; tlsSan: string[]; historyRevisions: number; historyAge: number;
    nodeGracePeriod: number; defaultTolerationSeconds: number; clusterCidr: string; serviceCidr: string; serviceNodePortRange: string }) => {
    const logger = pino({ name: 'labkube-server' });
    const server = await startServer({
      dataDir: opts.dataDir, host: opts.listen.host, port: opts.listen.port, logger, tlsSans: opts.tlsSan,
      historyRevisions: opts.historyRevisions, historyAgeMs: opts.historyAge * 1000,
      nodeMonitorGracePeriodMs: opts.nodeGracePeriod * 1000, defaultTolerationSeconds: opts.defaultTolerationSeconds,
      clusterCidr: opts.clusterCidr, serviceCidr: opts.serviceCidr, nodePortRange: opts.serviceNodePortRange,
    });
    const stop = async (signal: string) => {
      logger.info({ signal }, 'shutting down');
      // A service manager waits for us; never longer than this, whatever a connection is doing.
      setTimeout(() => { logger.error('shutdown took too long; exiting'); process.exit(1); }, 10_000).unref();
      await server.close();
      logger.info('stopped');
      process.exit(0);
    };
    process.once('SIGTERM', () => void stop('SIGTERM'));
    process.once('SIGINT', () => void stop('SIGINT'));
  });

registerAgentCommand(program);

program.parseAsync().catch((err: unknown) => {
  process.stderr.write(`labkube: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
