// Starts a real control plane (HTTPS, SQLite in a temporary directory) for integration tests,
// and a client for it. Every test gets its own server and data directory.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { KubeClient } from '../../control-plane/client/client.ts';
import { startServer, type RunningServer, type ServerOptions } from '../../control-plane/server.ts';

export interface TestServer extends RunningServer {
  client: KubeClient;
  dataDir: string;
  /** Stops the server and removes its data directory. */
  stop(): Promise<void>;
}

export async function startTestServer(options: Partial<ServerOptions> = {}): Promise<TestServer> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'labkube-test-'));
  const logger = pino({ level: process.env.LABKUBE_TEST_LOG ?? 'silent' });
  const server = await startServer({ dataDir, host: '127.0.0.1', port: 0, logger, ...options });
  const client = new KubeClient({ server: server.url, token: server.adminToken, ca: server.caPem });
  return {
    ...server, client, dataDir,
    async stop() {
      client.close();
      await server.close();
      if (!options.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Polls `check` until it returns a value that is not undefined/false, or fails after `timeoutMs`.
 * The deadline only bounds a wait that never ends: a met condition returns at once, so the default
 * is sized for a loaded 2-core machine running several test files (a minute), not for a quiet one.
 */
export async function eventually<T>(check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 60_000,
  what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      lastError = err;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${(lastError as Error).message}` : ''}`);
}
