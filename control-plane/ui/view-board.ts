/// <reference lib="dom" />
// A board's card: its state in words and icons, its numbers, and its pods grouped by workload.
// Cards redraw only when their board's version or the clock's tick changes (shouldComponentUpdate),
// so a busy cluster redraws a few cards a frame, not fifty.
import { Component } from 'preact';
import { html } from 'htm/preact';
import type { NodeMetrics } from './cluster.ts';
import { bytes, duration, nodeView, percent, podState, restartsOf, workloadOf, type NodeObject, type PodObject } from './derive.ts';

export type NodeAction = 'cordon' | 'uncordon' | 'drain';

export interface BoardProps {
  node: NodeObject;
  pods: PodObject[];
  metrics: NodeMetrics | undefined;
  version: number;
  /** The clock, in ticks: "NotReady for 12 s" moves on. */
  tick: number;
  now: number;
  admin: boolean;
  busy: boolean;
  onAction: (action: NodeAction, node: string) => void;
}

/**
 * A pod's chip: one element and its text (1,500 of them are most of the page), built by a plain
 * function rather than a component, which would cost an instance each. The icon is the CSS
 * `::before` of `data-icon`; a click is handled once for the whole page (`podKeyOf`), not by a
 * listener per chip.
 */
export function podChip(pod: PodObject, key?: string) {
  const state = podState(pod);
  const restarts = restartsOf(pod);
  const name = pod.metadata.name!;
  // The name's last part tells replicas apart; the whole name is in the tooltip and the log panel.
  const short = name.length > 14 ? `…${name.slice(-5)}` : name;
  return html`<button key=${key} type="button" class=${`pod tone-${state.tone}`} data-pod=${`${pod.metadata.namespace}/${name}`} data-state=${state.word} data-icon=${state.icon}
    title=${`${pod.metadata.namespace}/${name}: ${state.word}${restarts ? `, ${restarts} restarts` : ''}. Click for logs.`}>${short}${(state.word !== 'Running' || restarts > 0)
      && html`<small>${state.word !== 'Running' ? state.word : ''}${restarts > 0 ? ` ↻${restarts}` : ''}</small>`}</button>`;
}

/**
 * The first picture's boards below the window. With `content-visibility: auto` Chromium lays out
 * every card in the first frame and skips the offscreen ones only from the next: the first frame
 * laid out all fifty cards and their 1,500 pods. So, before that frame, the cards are placed with
 * every one skipped (cheap: each is its placeholder, shorter than a drawn card, so more of them
 * count as on screen than are), and those that start below the window are skipped from the
 * first frame too. `revealBoards` hands them back to `content-visibility: auto` once the picture
 * is painted. They are in the page, pods and all, throughout.
 */
export function deferBoardsBelowWindow(section: HTMLElement): void {
  section.classList.add('measuring');
  const cards = [...section.querySelectorAll<HTMLElement>('article.board')];
  const tops = cards.map((card) => card.getBoundingClientRect().top);
  section.classList.remove('measuring');
  cards.forEach((card, i) => { if (tops[i]! >= innerHeight) card.classList.add('later'); });
}

export function revealBoards(section: HTMLElement): void {
  for (const card of section.querySelectorAll('article.board.later')) card.classList.remove('later');
}

/** The `namespace/name` of the pod chip a click landed on, if it landed on one. */
export function podKeyOf(event: Event): string | undefined {
  const target = event.target instanceof Element ? event.target.closest('button[data-pod]') : null;
  return target?.getAttribute('data-pod') ?? undefined;
}

// Object names are lowercase ASCII (DNS labels): code-unit order is their order, and it is much
// cheaper than localeCompare's collation over 1,500 pods.
const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

function groups(pods: PodObject[]): [string, PodObject[]][] {
  const byWorkload = new Map<string, PodObject[]>();
  for (const pod of pods) {
    const w = workloadOf(pod);
    const list = byWorkload.get(w);
    if (list) list.push(pod); else byWorkload.set(w, [pod]);
  }
  for (const list of byWorkload.values()) list.sort((a, b) => byName(a.metadata.name!, b.metadata.name!));
  return [...byWorkload.entries()].sort(([a], [b]) => byName(a, b));
}

function usage(used: number | undefined, of: number | undefined, format: (n: number) => string) {
  if (used === undefined) return html`<span class="na" title="no usage reported">—</span>`;
  return html`<span>${format(used)} <small>(${percent(used, of)})</small></span>`;
}

export class BoardCard extends Component<BoardProps> {
  override shouldComponentUpdate(next: BoardProps): boolean {
    const p = this.props;
    return next.version !== p.version || next.tick !== p.tick || next.admin !== p.admin || next.busy !== p.busy || next.metrics !== p.metrics;
  }

  override render() {
    const { node, pods, metrics, now, admin, busy, onAction } = this.props;
    const v = nodeView(node);
    const ready = v.ready === 'Ready';
    const since = v.since === undefined ? '' : ` for ${duration(now - v.since)}`;
    const stateIcon = ready ? '✔' : '✖';
    return html`<article class=${`board ${ready ? 'ready' : 'not-ready'}${v.cordoned ? ' cordoned' : ''}`} data-node=${v.name} data-ready=${v.ready}>
      <header>
        <h3>${v.name}</h3>
        <span class=${`badge ${ready ? 'tone-ok' : 'tone-bad'}`} data-role="ready" title=${v.reason ?? ''}><span aria-hidden="true">${stateIcon}</span> ${v.ready}${since}</span>
        ${v.cordoned && html`<span class="badge tone-idle" data-role="cordoned"><span aria-hidden="true">⊘</span> Cordoned</span>`}
      </header>
      <dl class="facts">
        <dt>Arch</dt><dd>${v.arch ?? '—'}</dd>
        <dt>Model</dt><dd>${v.model ?? '—'}</dd>
        <dt>IP</dt><dd>${v.ip ?? '—'}</dd>
        <dt>CPU</dt><dd>${usage(metrics?.cpu, v.cpuCores, (n) => `${n.toFixed(2)} cores`)}</dd>
        <dt>Memory</dt><dd>${usage(metrics?.memory, v.memoryBytes, bytes)}</dd>
        ${metrics?.temperature !== undefined && html`<dt>Temp</dt><dd>${metrics.temperature.toFixed(1)} °C</dd>`}
        ${v.devices.length > 0 && html`<dt>Devices</dt><dd>${v.devices.map(([k, n]) => `${k.slice(k.indexOf('/') + 1)} ×${n}`).join(', ')}</dd>`}
      </dl>
      <div class="pods" aria-label=${`pods on ${v.name}`}>
        ${pods.length === 0 && html`<p class="empty">No pods</p>`}
        ${groups(pods).map(([workload, list]) => html`<div class="group" key=${workload}>
          <div class="group-name">${workload} <small>(${list.length})</small></div>
          ${list.map((pod) => podChip(pod, pod.metadata.uid))}
        </div>`)}
      </div>
      ${admin && html`<footer class="actions">
        ${v.cordoned
          ? html`<button type="button" class="admin" data-action="uncordon" disabled=${busy} onClick=${() => onAction('uncordon', v.name)}>Uncordon</button>`
          : html`<button type="button" class="admin" data-action="cordon" disabled=${busy} onClick=${() => onAction('cordon', v.name)}>Cordon</button>`}
        <button type="button" class="admin" data-action="drain" disabled=${busy} onClick=${() => onAction('drain', v.name)}>Drain</button>
      </footer>`}
    </article>`;
  }
}
