// A TCP proxy in front of the API server whose "cable" can be pulled, for the agent tests that
// cut a board off from its control plane (flap.test.ts, partition.test.ts, checkpoint.test.ts).
import { createConnection, createServer, type Server, type Socket } from 'node:net';

/** A TCP proxy whose "cable" can be pulled: while unplugged, bytes both ways wait (nothing is lost, nothing arrives). */
export class CableProxy {
  private readonly server: Server;
  private plugged = true;
  private readonly links = new Set<{ flush(): void; destroy(): void }>();
  /** Connections the proxy could not make to the server (it is down): the agent tried to reach it. */
  refused = 0;

  constructor(private readonly upstreamPort: number) {
    this.server = createServer((client) => this.link(client));
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return (this.server.address() as { port: number }).port;
  }

  unplug(): void { this.plugged = false; }
  plug(): void { this.plugged = true; this.links.forEach((l) => l.flush()); }

  close(): void { this.links.forEach((l) => l.destroy()); this.server.close(); }

  private link(client: Socket): void {
    let upstream: Socket | undefined;
    const toServer: Buffer[] = [];
    const toClient: Buffer[] = [];
    const link = {
      flush: () => {
        if (!upstream) connect();
        for (const b of toServer.splice(0)) upstream!.write(b);
        for (const b of toClient.splice(0)) client.write(b);
      },
      // The server went away: the agent sees its connection reset, as when the process dies.
      destroy: () => { client.resetAndDestroy(); upstream?.destroy(); this.links.delete(link); },
    };
    const connect = () => {
      upstream = createConnection(this.upstreamPort, '127.0.0.1');
      upstream.on('data', (b: Buffer) => { if (this.plugged) client.write(b); else toClient.push(b); });
      upstream.on('error', (err: NodeJS.ErrnoException) => { if (err.code === 'ECONNREFUSED') this.refused++; link.destroy(); });
      upstream.on('close', () => link.destroy());
    };
    client.on('data', (b: Buffer) => { if (this.plugged && upstream) upstream.write(b); else toServer.push(b); });
    client.on('error', () => link.destroy());
    client.on('close', () => link.destroy());
    this.links.add(link);
    if (this.plugged) connect();
  }
}
