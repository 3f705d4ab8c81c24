// Turns a request path into what it asks for, as Kubernetes' RequestInfoFactory does:
// /api/v1/namespaces/default/pods/web-1/status -> verb update, resource pods, name web-1, ...
import { BadRequestError, NotFoundError } from '../api/errors.ts';

export type Verb = 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete' | 'deletecollection';

export interface RequestInfo {
  verb: Verb;
  group: string;
  version: string;
  resource: string;
  namespace?: string;
  name?: string;
  subresource?: string;
}

// Subresources of a namespace, which would otherwise read as a namespaced resource.
const namespaceSubresources = new Set(['status', 'finalize']);

/**
 * Path segments, decoded. Kubernetes splits the path after decoding, so a `%2F` can never hide
 * inside a name; here the segments are split first, and a decoded segment that could not be a
 * path segment (`.`, `..`, or one holding `/` or `%`: Kubernetes' ValidatePathSegmentName) is
 * refused, as is an encoding that does not decode (`%ZZ`).
 */
function segments(path: string): string[] {
  return path.split('?')[0]!.split('/').filter(Boolean).map((raw) => {
    let part: string;
    try {
      part = decodeURIComponent(raw);
    } catch {
      throw new BadRequestError(`the request path has an invalid escape in "${raw}"`);
    }
    if (part === '.' || part === '..' || part.includes('/') || part.includes('%')) {
      throw new BadRequestError(`invalid path segment "${part}": may not be '.' or '..' and may not contain '/' or '%'`);
    }
    return part;
  });
}

export function parseRequestInfo(method: string, path: string, watch: boolean): RequestInfo {
  const parts = segments(path);
  let group: string;
  let version: string;
  let rest: string[];
  if (parts[0] === 'api' && parts.length >= 3) {
    group = '';
    version = parts[1]!;
    rest = parts.slice(2);
  } else if (parts[0] === 'apis' && parts.length >= 4) {
    group = parts[1]!;
    version = parts[2]!;
    rest = parts.slice(3);
  } else {
    throw new NotFoundError('the server could not find the requested resource');
  }
  let namespace: string | undefined;
  if (rest[0] === 'namespaces' && rest.length >= 3 && !namespaceSubresources.has(rest[2]!)) {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  if (rest.length > 3) throw new NotFoundError('the server could not find the requested resource');
  const [resource, name, subresource] = rest as [string, string?, string?];
  const verb = verbFor(method, name !== undefined, watch);
  return { verb, group, version, resource, ...(namespace !== undefined && { namespace }), ...(name !== undefined && { name }), ...(subresource !== undefined && { subresource }) };
}

function verbFor(method: string, named: boolean, watch: boolean): Verb {
  switch (method) {
    case 'GET': case 'HEAD': return watch ? 'watch' : named ? 'get' : 'list';
    case 'POST': return 'create';
    case 'PUT': return 'update';
    case 'PATCH': return 'patch';
    case 'DELETE': return named ? 'delete' : 'deletecollection';
    default: return 'get';
  }
}
