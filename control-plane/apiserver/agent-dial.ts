// Dialing a node's agent (logs, exec, attach, port-forward): HTTPS to the Node's
// InternalIP and kubelet port, trusting only what proves to be that node's agent, as
// kube-apiserver does with --kubelet-certificate-authority:
//  - the chain: the certificate is signed by the cluster CA and valid now (TLS, `ca`);
//  - the address: the IP dialed is one of its IP SANs (TLS's checkServerIdentity);
//  - the node: its subject is system:node:NAME, and it is a certificate the control plane signed
//    for NAME and still trusts (not revoked, not replaced): node-serving-certs.ts.
// Another node's certificate, a self-signed one, or a revoked node's is refused before a byte
// of the request (and its log token) is sent.
import { X509Certificate } from 'node:crypto';
import type { ClientRequest, IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import https from 'node:https';
import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import { ApiError, ServiceUnavailableError } from '../api/errors.ts';
import type { Status } from '../api/meta.ts';
import type { Node } from '../api/core.ts';
import type { Store } from '../store/types.ts';
import { untrustedReason } from './node-serving-certs.ts';

// The kubelet's port, used when a Node does not report one.
const defaultKubeletPort = 10250;

export interface AgentEndpoint { nodeName: string; host: string; port: number }

/** Where a Node's agent listens: its InternalIP and the port it reports. */
export function agentEndpoint(node: Node): AgentEndpoint {
  const nodeName = node.metadata.name!;
  const host = node.status?.addresses?.find((a) => a.type === 'InternalIP')?.address;
  if (!host) throw new ServiceUnavailableError(`node "${nodeName}" reports no InternalIP`);
  return { nodeName, host, port: node.status?.daemonEndpoints?.kubeletEndpoint?.Port ?? defaultKubeletPort };
}

export interface AgentTrust {
  /** The cluster CA certificate (PEM). */
  caPem: string;
  /** Where the certificates signed for each node are recorded. */
  store: Store;
}

/** The agent's certificate was refused: a 503 that says whose certificate it was and why. */
export class AgentCertificateError extends ServiceUnavailableError {
  constructor(endpoint: AgentEndpoint, why: string) {
    super(`refusing the agent of node "${endpoint.nodeName}" at ${endpoint.host}:${endpoint.port}: its serving certificate is not trusted: ${why}`);
  }
}

/** TLS errors OpenSSL reports for a chain that does not lead to the CA, in words. */
const chainErrors: Record<string, string> = {
  DEPTH_ZERO_SELF_SIGNED_CERT: 'it is self-signed, not signed by the cluster CA (has the agent joined with a CSR?)',
  SELF_SIGNED_CERT_IN_CHAIN: 'it is not signed by the cluster CA',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'it is not signed by the cluster CA',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'it is not signed by the cluster CA',
  CERT_HAS_EXPIRED: 'it has expired (the agent renews it; is the agent running?)',
  CERT_NOT_YET_VALID: 'it is not valid yet',
  ERR_TLS_CERT_ALTNAME_INVALID: 'it does not cover the address the Node reports',
};

export interface AgentRequest {
  /** Unsent: write a body if any, then `end()`. */
  request: ClientRequest;
  /** The API error for an 'error' event of `request`: a refused certificate (and why) or an unreachable agent. */
  describe(err: Error): ServiceUnavailableError;
}

/**
 * The TLS options of a connection to the agent at `endpoint`, verified as above (for
 * node:https and for a WebSocket client alike), and how to word its failure.
 */
export function agentTls(trust: AgentTrust, endpoint: AgentEndpoint): {
  tls: { ca: string; agent: false; checkServerIdentity(host: string, cert: PeerCertificate): Error | undefined };
  describe(err: Error): ServiceUnavailableError;
} {
  let refusal: string | undefined;
  const tls = {
    ca: trust.caPem,
    // A connection pinned to one node's certificate is not for another request to reuse blindly.
    agent: false as const,
    checkServerIdentity: (host: string, cert: PeerCertificate) => {
      const wrongAddress = checkServerIdentity(host, cert);
      if (wrongAddress) return wrongAddress;
      refusal = untrustedReason(trust.store, endpoint.nodeName, new X509Certificate(cert.raw));
      return refusal ? new Error(refusal) : undefined;
    },
  };
  const describe = (err: Error) => {
    const why = refusal ?? chainErrors[(err as NodeJS.ErrnoException).code ?? ''];
    return why ? new AgentCertificateError(endpoint, why)
      : new ServiceUnavailableError(`cannot reach the agent on node "${endpoint.nodeName}" at ${endpoint.host}:${endpoint.port}: ${(err as NodeJS.ErrnoException).code ?? err.message}`);
  };
  return { tls, describe };
}

/** Opens a request to the agent at `endpoint`, over TLS verified as above. */
export function requestAgent(trust: AgentTrust, endpoint: AgentEndpoint,
  init: { method: string; path: string; headers?: OutgoingHttpHeaders }): AgentRequest {
  const { tls, describe } = agentTls(trust, endpoint);
  const request = https.request({ host: endpoint.host, port: endpoint.port, method: init.method, path: init.path, headers: init.headers, ...tls });
  return { request, describe };
}

/**
 * The API error an agent's non-success answer stands for: its Status body (the agent answers
 * with one), or its text when it is not one. Reads the response to its end.
 */
export async function agentRefusal(res: IncomingMessage): Promise<ApiError> {
  let text = '';
  for await (const chunk of res) if (text.length < 65_536) text += String(chunk);
  let status: Partial<Status> = { message: text || `the agent answered HTTP ${res.statusCode}` };
  try { status = JSON.parse(text) as Status; } catch { /* plain text from the agent: kept as the message above */ }
  return ApiError.fromStatus(status, res.statusCode ?? 502);
}

/** Sends a request without a body to the agent and resolves with its response (headers read, body not). */
export function fetchFromAgent(trust: AgentTrust, endpoint: AgentEndpoint,
  init: { method: string; path: string; headers?: OutgoingHttpHeaders; signal?: AbortSignal }): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const { request, describe } = requestAgent(trust, endpoint, init);
    request.on('response', resolve);
    request.on('error', (err) => reject(describe(err)));
    init.signal?.addEventListener('abort', () => request.destroy(), { once: true });
    request.end();
  });
}
