// What every command needs: a client for the cluster in the kubeconfig, the namespace to use,
// and where to write. Commands take a CliContext instead of reading globals, so tests can run
// them in-process as well as through the binary.
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { ApiError } from '../api/errors.ts';
import type { Status } from '../api/meta.ts';
import { resourceByName, resourceForKind, resources, type ResourceType } from '../api/resources.ts';
import { ConnectionError, KubeClient } from '../client/client.ts';
import { kubeconfigPath, loadKubeconfig, type ClusterAccess } from './kubeconfig.ts';

export interface GlobalOptions { kubeconfig?: string; namespace?: string; context?: string }

export class UsageError extends Error {}

export class CliContext {
  readonly client: KubeClient;
  readonly namespace: string;
  /** True when -n was given: kubectl then treats the namespace as intentional. */
  readonly explicitNamespace: boolean;

  constructor(readonly access: ClusterAccess, namespace: string | undefined, readonly out: NodeJS.WritableStream = process.stdout,
    readonly err: NodeJS.WritableStream = process.stderr) {
    if (access.insecureSkipTlsVerify) {
      // KubeClient has no per-agent switch for this yet; a CLI process talks to one cluster only.
      process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';
    }
    this.client = new KubeClient({ server: access.server, token: access.token, userAgent: 'labctl', ...(access.ca && !access.insecureSkipTlsVerify && { ca: access.ca }) });
    this.namespace = namespace ?? access.namespace;
    this.explicitNamespace = namespace !== undefined;
  }

  static fromOptions(opts: GlobalOptions): CliContext {
    return new CliContext(loadKubeconfig(kubeconfigPath(opts.kubeconfig), opts.context), opts.namespace);
  }

  print(text: string): void { this.out.write(text.endsWith('\n') ? text : `${text}\n`); }
  warn(text: string): void { this.err.write(`${text}\n`); }

  /** A GET whose body is streamed as it comes (logs): the response, after the status check. */
  async stream(path: string, signal?: AbortSignal): Promise<IncomingMessage> {
    const url = new URL(path, this.access.server);
    const transport = url.protocol === 'https:' ? https : http;
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = transport.request(url, {
        headers: { Authorization: `Bearer ${this.access.token}`, 'User-Agent': 'labctl' },
        ...(this.access.ca && !this.access.insecureSkipTlsVerify && { ca: this.access.ca }), ...(signal && { signal }),
      }, resolve);
      req.on('error', (err) => reject(signal?.aborted ? err : new ConnectionError(this.access.server, err)));
      req.end();
    });
    if (res.statusCode! >= 400) {
      let text = '';
      res.setEncoding('utf8');
      for await (const chunk of res) text += chunk as string;
      let status: Partial<Status> = { message: text.trim().slice(0, 300) || `HTTP ${res.statusCode}` };
      try {
        const parsed = JSON.parse(text) as Partial<Status>;
        if (parsed.kind === 'Status') status = parsed;
      } catch { /* plain text from the server: reported as it is */ }
      throw ApiError.fromStatus(status, res.statusCode!);
    }
    return res;
  }

  close(): void { this.client.close(); }
}

/** `pods`, `po`, `pod`, `deployment.apps`, `Deployment`: the resource a user means. */
export function resolveResource(name: string): ResourceType {
  const plain = name.toLowerCase().split('.')[0]!;
  const r = resourceByName(plain) ?? resourceForKind(name) ?? resources.find((x) => x.kind.toLowerCase() === plain);
  if (!r) throw new UsageError(`the server doesn't have a resource type "${name}"`);
  return r;
}

/** `deployment.apps`, `pod`: how kubectl names a kind in messages. */
export const kindName = (r: ResourceType): string => (r.group ? `${r.singular}.${r.group}` : r.singular);

/** Splits `deploy/web` and `deploy web` forms into the resource and names. */
export function targets(args: string[]): { resource: ResourceType; names: string[] }[] {
  if (args.length === 0) throw new UsageError('you must specify the type of resource');
  if (args.every((a) => a.includes('/'))) {
    return args.map((a) => {
      const [type, name] = a.split('/', 2) as [string, string];
      return { resource: resolveResource(type), names: [name] };
    });
  }
  const [types, ...names] = args as [string, ...string[]];
  return types.split(',').map((t) => ({ resource: resolveResource(t), names }));
}
