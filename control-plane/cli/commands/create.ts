// `labctl create deployment NAME --image=IMAGE [--replicas=N] [--port=P]`, built as kubectl
// builds it: labels and selector app=NAME, one container named after the image.
import type { Command } from 'commander';
import type { KubeObject } from '../../api/meta.ts';
import { resourceFor } from '../../api/resources.ts';
import { UsageError } from '../context.ts';
import type { Runner } from '../main.ts';
import { objectRef } from '../print.ts';

const deployments = resourceFor('apps', 'deployments')!;

/** nginx:1.25 -> nginx, registry.lab:5000/team/app@sha256:.. -> app: a valid container name. */
export function containerName(image: string): string {
  const base = image.split('@')[0]!.split('/').pop()!.split(':')[0]!;
  return base.toLowerCase().replace(/[^a-z0-9-]/g, '-').replace(/^-+|-+$/g, '') || 'app';
}

export function newDeployment(name: string, image: string, replicas: number, port?: number): KubeObject {
  const labels = { app: name };
  return {
    apiVersion: 'apps/v1', kind: 'Deployment',
    metadata: { name, labels },
    spec: {
      replicas, selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: { containers: [{ name: containerName(image), image, ...(port !== undefined && { ports: [{ containerPort: port }] }) }] },
      },
    },
  };
}

const int = (what: string) => (v: string) => {
  if (!/^\d+$/.test(v)) throw new UsageError(`${what} must be a whole number, got "${v}"`);
  return Number(v);
};

export function registerCreate(program: Command, run: Runner): void {
  const create = program.command('create').description('create a resource');
  create.command('deployment')
    .description('create a deployment with the given image')
    .argument('<name>')
    .requiredOption('--image <image>', 'container image')
    .option('--replicas <n>', 'number of pods', int('--replicas'), 1)
    .option('--port <port>', 'the port the container exposes', int('--port'))
    .action((name: string, opts: { image: string; replicas: number; port?: number }) => run(async (ctx) => {
      const created = await ctx.client.create(deployments, ctx.namespace, newDeployment(name, opts.image, opts.replicas, opts.port));
      ctx.print(`${objectRef(deployments, created.metadata.name!)} created`);
    }));
}
