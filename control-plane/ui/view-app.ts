/// <reference lib="dom" />
// The dashboard: the header, the connection banner, the boards' grid, the waiting lane, the side
// panels and the log panel. Redraws at most once per animation frame however many watch events
// arrive in it.
import { html } from 'htm/preact';
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import type { Deployment } from '../api/apps.ts';
import type { Service } from '../api/core.ts';
import type { KubeObject } from '../api/meta.ts';
import { cordon, drain } from './actions.ts';
import type { Api } from './api.ts';
import type { Cluster, Connection } from './cluster.ts';
import { podState, waitingReason, type PodObject } from './derive.ts';
import { failoverTimelines } from './failover.ts';
import { BoardCard, deferBoardsBelowWindow, podChip, podKeyOf, revealBoards, type NodeAction } from './view-board.ts';
import { LogPanel } from './view-logs.ts';
import { Events, Failovers, Services, Workloads } from './view-panels.ts';

export type Role = 'admin' | 'viewer';

function Banner({ connection, now }: { connection: Connection; now: number }) {
  if (connection.state === 'lost') {
    return html`<div class="banner tone-bad" role="status" data-role="banner">
      <span aria-hidden="true">⚠</span> Lost the control plane ${Math.round((now - connection.since) / 1000)} s ago (${connection.error}). Reconnecting by itself…</div>`;
  }
  if (connection.state === 'live' && connection.reconnectedAt && now - connection.reconnectedAt < 10_000) {
    return html`<div class="banner tone-ok" role="status" data-role="banner"><span aria-hidden="true">✔</span> Reconnected to the control plane.</div>`;
  }
  return null;
}

export function App({ api, role, onSignOut, onRefused, cluster }: {
  api: Api; role: Role; onSignOut: () => void; onRefused: (why: string) => void;
  /** The lab's lists and watches, started by main.ts beside the role read; stopped here when the page signs out. */
  cluster: Cluster;
}) {
  const [, setVersion] = useState(0);
  const [now, setNow] = useState(Date.now());
  const [selected, setSelected] = useState<PodObject | undefined>();
  const [busy, setBusy] = useState<string | undefined>();
  const [message, setMessage] = useState<{ text: string; error: boolean } | undefined>();
  const [confirmDrain, setConfirmDrain] = useState<string | undefined>();

  useEffect(() => {
    let frame = 0;
    const redraw = () => {
      // While the first lists come in, a redraw per list would draw 1,500 pods several times over
      // before the picture is whole: the page waits for all of them (or for a failure to show).
      if (!cluster.synced && cluster.connection.state === 'connecting') return;
      frame ||= requestAnimationFrame(() => { frame = 0; setVersion(cluster.version); });
    };
    const unsubscribe = cluster.subscribe(redraw);
    // What came in between the first draw and this subscription.
    redraw();
    // "NotReady for 12 s" and the banner count seconds.
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => { unsubscribe(); cluster.stop(); clearInterval(timer); cancelAnimationFrame(frame); };
  }, [cluster]);

  const connection = cluster.connection;
  useEffect(() => {
    if (connection.state === 'refused' && connection.error.code === 401) onRefused('The server refused this token (401 Unauthorized). Check it and sign in again.');
  }, [connection]);

  // The first full picture: every list is in and drawn. The bench and the browser test read this
  // mark. Before it is painted, the boards below the window are set aside (view-board.ts says why).
  const boards = useRef<HTMLElement>(null);
  useLayoutEffect(() => {
    if (cluster.synced && !document.body.dataset.picture && boards.current) deferBoardsBelowWindow(boards.current);
  });
  useEffect(() => {
    if (cluster.synced && !document.body.dataset.picture) {
      document.body.dataset.picture = 'ready';
      performance.mark('labkube:first-picture');
      if (boards.current) revealBoards(boards.current);
    }
  });

  // Uses only setters and `api`, which never change: the cards keep the first copy of `act`
  // (they redraw only when their board does), so it must not read state. Drain asks first.
  const act = (action: NodeAction, node: string) => { if (action === 'drain') setConfirmDrain(node); else void run(action, node); };
  const run = async (action: NodeAction, node: string) => {
    setConfirmDrain(undefined);
    setBusy(node);
    try {
      const text = action === 'drain' ? await drain(api, node) : await cordon(api, node, action === 'cordon');
      setMessage({ text, error: false });
    } catch (err) {
      setMessage({ text: `${action} ${node} failed: ${err instanceof Error ? err.message : String(err)}`, error: true });
    } finally {
      setBusy(undefined);
    }
  };

  // One listener for every pod chip (the cards and the waiting lane): the log panel of the one clicked.
  const openLogs = (event: Event) => {
    const key = podKeyOf(event);
    const pod = key === undefined ? undefined : cluster.reflectors.pods.items.get(key);
    if (pod) setSelected(pod as PodObject);
  };

  // The lab is drawn once every list is in (or the connection failed, to show what there is):
  // drawing the boards as the node list arrives, before their pods, was a layout of fifty
  // cards thrown away a moment later.
  const drawn = cluster.synced || connection.state !== 'connecting';
  const nodes = cluster.nodes().sort((a, b) => a.metadata.name!.localeCompare(b.metadata.name!));
  const pods = cluster.pods();
  const waiting = pods.filter((p) => !p.spec.nodeName && !p.metadata.deletionTimestamp);
  const metrics = cluster.metrics.state === 'ok' ? cluster.metrics.nodes : undefined;
  const events = cluster.events();
  const outages = failoverTimelines({ nodes, pods, events, renewals: cluster.renewals, podNodes: cluster.podNodes });
  const running = pods.filter((p) => podState(p).word === 'Running').length;
  const readyBoards = nodes.filter((n) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')).length;

  return html`<div class="app" data-connection=${connection.state} data-lists=${[...cluster.listed].join(' ')}>
    <header class="top">
      <h1>labkube</h1>
      <p class="summary" data-role="summary">
        <span><span aria-hidden="true">▣</span> ${readyBoards}/${nodes.length} boards Ready</span>
        <span><span aria-hidden="true">●</span> ${running}/${pods.length} pods Running</span>
        ${waiting.length > 0 && html`<span class="tone-busy"><span aria-hidden="true">◔</span> ${waiting.length} waiting</span>`}
      </p>
      <span class="role" data-role="role">${role === 'admin' ? 'Admin' : 'Viewer (read-only)'}</span>
      <button type="button" onClick=${onSignOut}>Sign out</button>
    </header>
    <${Banner} connection=${connection} now=${now} />
    ${!cluster.synced && connection.state !== 'lost' && html`<p class="loading">Loading the lab…</p>`}
    ${cluster.metrics.state === 'unavailable' && html`<p class="note" data-role="metrics-note">CPU and memory: — (the metrics API answered: ${cluster.metrics.why})</p>`}
    ${message && html`<div class=${`banner ${message.error ? 'tone-bad' : 'tone-ok'}`} role="status" data-role="message">${message.text}
      <button type="button" onClick=${() => setMessage(undefined)} aria-label="Dismiss">✕</button></div>`}
    ${confirmDrain && html`<div class="banner tone-busy" role="alertdialog" data-role="confirm-drain">
      Drain ${confirmDrain}? It is cordoned and its pods are deleted so their controllers start them on other boards.
      <button type="button" class="admin" data-action="confirm-drain" onClick=${() => void run('drain', confirmDrain)}>Drain</button>
      <button type="button" onClick=${() => setConfirmDrain(undefined)}>Cancel</button></div>`}
    ${drawn && html`<div class="layout">
      <main onClick=${openLogs}>
        <section class="boards" aria-label="boards" ref=${boards}>
          ${nodes.map((node) => {
            const name = node.metadata.name!;
            const notReady = !node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
            return html`<${BoardCard} key=${name} node=${node} pods=${[...(cluster.podsByNode.get(name)?.values() ?? [])]}
              metrics=${metrics?.get(name)} version=${cluster.nodeVersions.get(name) ?? 0}
              tick=${Math.floor(now / (notReady ? 1000 : 60_000))} now=${now} admin=${role === 'admin'} busy=${busy === name}
              onAction=${act} />`;
          })}
        </section>
        <section class="waiting" aria-label="waiting for a board" data-role="waiting">
          <h2><span aria-hidden="true">◔</span> Waiting for a board (${waiting.length})</h2>
          ${waiting.length === 0 ? html`<p class="empty">Every pod has a board.</p>` : waiting.slice(0, 100).map((p) => html`<div class="waiting-pod" key=${p.metadata.uid}>
            ${podChip(p)} <span class="reason">${waitingReason(p)}</span></div>`)}
        </section>
      </main>
      <aside class="side">
        <${Failovers} outages=${outages} now=${now} />
        <${Workloads} deployments=${cluster.items<Deployment & KubeObject>('deployments')} />
        <${Services} services=${cluster.items<Service & KubeObject>('services')} pods=${pods} />
        <${Events} events=${events} boards=${nodes.map((n) => n.metadata.name!)} />
      </aside>
    </div>`}
    ${selected && html`<${LogPanel} api=${api} pod=${selected} onClose=${() => setSelected(undefined)} />`}
  </div>`;
}
