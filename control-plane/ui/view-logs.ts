/// <reference lib="dom" />
// A pod's log in a side panel: the last lines, then (while "Follow" is on) what it writes next.
import { html } from 'htm/preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { Api } from './api.ts';
import type { PodObject } from './derive.ts';

// Enough to see what a pod did before it crashed, small enough to keep the panel quick.
const tailLines = 200;
const keptChars = 200_000;

export function LogPanel({ api, pod, onClose }: { api: Api; pod: PodObject; onClose: () => void }) {
  const [text, setText] = useState('');
  const [error, setError] = useState<string | undefined>();
  const [follow, setFollow] = useState(true);
  const pre = useRef<HTMLPreElement>(null);
  const ns = pod.metadata.namespace!;
  const name = pod.metadata.name!;

  useEffect(() => {
    const abort = new AbortController();
    setText('');
    setError(undefined);
    const path = `/api/v1/namespaces/${encodeURIComponent(ns)}/pods/${encodeURIComponent(name)}/log?tailLines=${tailLines}${follow ? '&follow=true' : ''}`;
    api.streamLog(path, (chunk) => setText((t) => (t + chunk).slice(-keptChars)), abort.signal)
      .catch((err: unknown) => { if (!abort.signal.aborted) setError(err instanceof Error ? err.message : String(err)); });
    return () => abort.abort();
  }, [ns, name, follow]);

  useEffect(() => { if (follow && pre.current) pre.current.scrollTop = pre.current.scrollHeight; }, [text]);

  return html`<aside class="logs" aria-label=${`logs of ${name}`} data-logs=${`${ns}/${name}`}>
    <header><h2>Logs: ${name}</h2>
      <label><input type="checkbox" checked=${follow} onChange=${(e: Event) => setFollow((e.target as HTMLInputElement).checked)} /> Follow</label>
      <button type="button" onClick=${onClose} aria-label="Close the logs">✕ Close</button></header>
    ${error ? html`<p class="error" role="alert"><span aria-hidden="true">⚠</span> Logs unavailable: ${error}</p>` : null}
    <pre ref=${pre}>${text || (error ? '' : 'Waiting for output…')}</pre>
  </aside>`;
}
