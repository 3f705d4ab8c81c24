/// <reference lib="dom" />
// The side column: workloads, Services, failover timelines and the event timeline.
import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import type { Service } from '../api/core.ts';
import type { Deployment } from '../api/apps.ts';
import type { KubeObject } from '../api/meta.ts';
import { condition, type PodObject } from './derive.ts';
import { gaps, type EventObject, type Outage } from './failover.ts';

const clock = (t: number) => new Date(t).toLocaleTimeString([], { hour12: false });

export function Workloads({ deployments }: { deployments: (Deployment & KubeObject)[] }) {
  const rows = [...deployments].sort((a, b) => a.metadata.name!.localeCompare(b.metadata.name!));
  return html`<section class="panel" aria-labelledby="workloads-h"><h2 id="workloads-h">Deployments</h2>
    ${rows.length === 0 ? html`<p class="empty">None yet</p>` : html`<table><thead><tr><th>Name</th><th>Ready</th></tr></thead><tbody>
      ${rows.map((d) => {
        const desired = d.spec?.replicas ?? 1;
        const ready = d.status?.readyReplicas ?? 0;
        const ok = ready >= desired;
        return html`<tr key=${d.metadata.uid} data-deployment=${d.metadata.name}>
          <td>${d.metadata.namespace === 'default' ? '' : `${d.metadata.namespace}/`}${d.metadata.name}</td>
          <td class=${ok ? 'tone-ok' : 'tone-busy'}><span aria-hidden="true">${ok ? '✔' : '◔'}</span> ${ready}/${desired}</td></tr>`;
      })}</tbody></table>`}
  </section>`;
}

/** Ready pods a Service selects: its endpoints, counted as the endpoints controller counts them. */
export function endpointCount(service: Service & KubeObject, pods: PodObject[]): number {
  const selector = Object.entries(service.spec?.selector ?? {});
  if (selector.length === 0) return 0; // a Service without a selector has hand-made endpoints, not drawn here
  return pods.filter((p) => p.metadata.namespace === service.metadata.namespace && !p.metadata.deletionTimestamp &&
    selector.every(([k, v]) => p.metadata.labels?.[k] === v) && condition(p, 'Ready')?.status === 'True').length;
}

export function Services({ services, pods }: { services: (Service & KubeObject)[]; pods: PodObject[] }) {
  const rows = services.filter((s) => !(s.metadata.namespace === 'default' && s.metadata.name === 'kubernetes'))
    .sort((a, b) => a.metadata.name!.localeCompare(b.metadata.name!));
  return html`<section class="panel" aria-labelledby="services-h"><h2 id="services-h">Services</h2>
    ${rows.length === 0 ? html`<p class="empty">None yet</p>` : html`<table><thead><tr><th>Name</th><th>Ports</th><th>Endpoints</th></tr></thead><tbody>
      ${rows.map((s) => {
        const ready = endpointCount(s, pods);
        const ports = (s.spec?.ports ?? []).map((p) => `${p.port}${p.nodePort ? `→:${p.nodePort}` : ''}/${p.protocol ?? 'TCP'}`).join(' ');
        return html`<tr key=${s.metadata.uid}><td>${s.metadata.name}<br/><small>${s.spec?.type ?? 'ClusterIP'} ${s.spec?.clusterIP ?? ''}</small></td>
          <td>${ports}</td><td class=${ready ? 'tone-ok' : 'tone-bad'}><span aria-hidden="true">${ready ? '✔' : '✖'}</span> ${ready}</td></tr>`;
      })}</tbody></table>`}
  </section>`;
}

export function Failovers({ outages, now }: { outages: Outage[]; now: number }) {
  return html`<section class="panel" aria-labelledby="failover-h"><h2 id="failover-h">Board outages</h2>
    ${outages.length === 0 ? html`<p class="empty">No board has gone down</p>` : outages.slice(0, 5).map((o) => {
      const gap = gaps(o.steps);
      const first = o.steps.find((s) => s.at !== undefined)?.at ?? o.start;
      return html`<div class="outage" key=${`${o.node}/${o.start}`} data-outage=${o.node}>
        <h3>${o.node} <small>${o.recovered ? `back after ${Math.round((o.recovered - o.start) / 1000)} s` : `down for ${Math.round((now - o.start) / 1000)} s`}</small></h3>
        <ol>${o.steps.map((s, i) => html`<li class=${s.at === undefined ? 'pending' : 'done'}>
          <span aria-hidden="true">${s.at === undefined ? '◌' : '✔'}</span> ${s.label}${s.note ? ` (${s.note})` : ''}
          <span class="when">${s.at === undefined ? (o.recovered || i === 0 ? 'unknown' : 'not yet') : `${clock(s.at)}${gap[i] !== undefined ? ` +${gap[i]} s` : ''} · t+${Math.round((s.at - first) / 1000)} s`}</span>
        </li>`)}</ol></div>`;
    })}
  </section>`;
}

const eventTime = (e: EventObject) => Date.parse(e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp ?? e.metadata.creationTimestamp ?? '') || 0;
const shownEvents = 150;

export function Events({ events, boards }: { events: EventObject[]; boards: string[] }) {
  const [board, setBoard] = useState('');
  const [text, setText] = useState('');
  const needle = text.trim().toLowerCase();
  const rows = events.filter((e) => {
    const about = `${e.involvedObject?.name ?? ''} ${e.message ?? ''}`;
    if (board && !about.includes(board) && e.involvedObject?.name !== board) return false;
    return !needle || `${about} ${e.reason ?? ''}`.toLowerCase().includes(needle);
  }).sort((a, b) => eventTime(b) - eventTime(a)).slice(0, shownEvents);
  return html`<section class="panel events" aria-labelledby="events-h"><h2 id="events-h">Events</h2>
    <div class="filters">
      <label>Board <select value=${board} onChange=${(e: Event) => setBoard((e.target as HTMLSelectElement).value)}>
        <option value="">all</option>${boards.map((b) => html`<option value=${b}>${b}</option>`)}</select></label>
      <label>Workload or text <input type="search" value=${text} onInput=${(e: Event) => setText((e.target as HTMLInputElement).value)} /></label>
    </div>
    <ol class="event-list">${rows.map((e) => html`<li key=${e.metadata.uid} class=${e.type === 'Warning' ? 'tone-bad' : ''}>
      <span class="when">${clock(eventTime(e))}</span>
      <span aria-hidden="true">${e.type === 'Warning' ? '⚠' : 'ℹ'}</span> <b>${e.reason}</b> ${e.involvedObject?.kind}/${e.involvedObject?.name}${(e.count ?? 1) > 1 ? ` ×${e.count}` : ''}
      <div class="message">${e.message}</div></li>`)}</ol>
  </section>`;
}
