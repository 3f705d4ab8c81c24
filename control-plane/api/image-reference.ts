// Container image references, parsed with the grammar Docker's distribution/reference package
// defines (reference.go): `[domain[:port]/]path[/path...][:tag][@digest]`. The API validates
// images with it, and the scheduler and the agent's pull hook can use the same parse instead of
// splitting on ':' and '/' themselves.

const alphanumeric = '[a-z0-9]+';
const separator = '(?:[._]|__|[-]+)';
const pathComponent = `${alphanumeric}(?:${separator}${alphanumeric})*`;
const domainComponent = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const domainName = `${domainComponent}(?:\\.${domainComponent})*`;
const ipv6 = '\\[(?:[a-fA-F0-9:]+)\\]';
const domain = `(?:${domainName}|${ipv6})(?::[0-9]+)?`;
const tag = '[\\w][\\w.-]{0,127}';
const digest = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9a-fA-F]{32,}';

// The path part may not start with a domain-looking component unless a '/' follows it, so the
// name is split as Docker splits it: the first component is a domain only if it has a '.' or a
// ':' or is `localhost` (reference.splitDockerDomain); the grammar itself accepts both readings.
const referencePattern = new RegExp(
  `^(?:(${domain})/)?(${pathComponent}(?:/${pathComponent})*)(?::(${tag}))?(?:@(${digest}))?$`,
);

/** Docker's limit on the length of a repository name (domain and path). */
const maxNameLength = 255;

export const defaultImageDomain = 'docker.io';

export interface ImageReference {
  /** The registry, e.g. `docker.io` or `registry.lab:5000`. */
  domain: string;
  /** The repository path inside the registry, e.g. `library/nginx`. */
  path: string;
  tag?: string;
  digest?: string;
}

/**
 * Parses an image reference and fills Docker's defaults (`docker.io`, `library/` for one-part
 * names on Docker Hub). Returns undefined when `ref` is not a valid reference. No default tag is
 * added: `nginx` has no tag, which pull policy defaulting reads as `latest`.
 */
export function parseImageReference(ref: string): ImageReference | undefined {
  const m = referencePattern.exec(ref);
  if (!m) return undefined;
  let [, host, path] = m as unknown as [string, string | undefined, string];
  const nameLength = (host ? host.length + 1 : 0) + path.length;
  if (nameLength > maxNameLength) return undefined;
  // `localhost/x` and `a.b/x` name a registry; `user/x` is a path on Docker Hub.
  if (host && !host.includes('.') && !host.includes(':') && host !== 'localhost' && host.toLowerCase() === host) {
    path = `${host}/${path}`;
    host = undefined;
  }
  const result: ImageReference = { domain: host ?? defaultImageDomain, path };
  if (result.domain === defaultImageDomain && !result.path.includes('/')) result.path = `library/${result.path}`;
  if (m[3] !== undefined) result.tag = m[3];
  if (m[4] !== undefined) result.digest = m[4];
  return result;
}

/** Why `ref` is not an image reference, or undefined when it is one. */
export function imageReferenceError(ref: string): string | undefined {
  if (ref.trim() !== ref) return 'must not have leading or trailing whitespace';
  if (parseImageReference(ref) === undefined) {
    return 'must be a valid image reference ([registry[:port]/]name[:tag][@digest], lower-case name)';
  }
  return undefined;
}

/** The canonical form, `docker.io/library/nginx:latest`: two spellings of one image compare equal. */
export function normalizedImage(ref: string): string | undefined {
  const r = parseImageReference(ref);
  if (!r) return undefined;
  const name = `${r.domain}/${r.path}`;
  if (r.digest) return `${name}${r.tag ? `:${r.tag}` : ''}@${r.digest}`;
  return `${name}:${r.tag ?? 'latest'}`;
}
