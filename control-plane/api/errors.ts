// One error hierarchy for the server, the client, the agent and the CLI. Every error maps to a
// Kubernetes `Status` (its HTTP code and reason), so an error raised deep in the store reaches a
// client in the shape kubectl understands, and a client turns a `Status` back into the same class.
import type { Status, StatusCause } from './meta.ts';

export interface ErrorDetails { name?: string; group?: string; kind?: string; causes?: StatusCause[] }

export class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: ErrorDetails,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }

  toStatus(): Status {
    const status: Status = {
      apiVersion: 'v1', kind: 'Status', metadata: {}, status: 'Failure',
      message: this.message, reason: this.reason, code: this.code,
    };
    if (this.details) status.details = this.details;
    return status;
  }

  /** Rebuilds the matching error class from a Status a server sent. */
  static fromStatus(status: Partial<Status>, fallbackCode: number): ApiError {
    const code = status.code ?? fallbackCode;
    const message = status.message ?? `HTTP ${code}`;
    const Known = status.reason === 'AlreadyExists' ? AlreadyExistsError
      : code === 409 ? ConflictError : byCode.get(code);
    if (Known && Known !== (InvalidError as unknown)) {
      const err = new Known(message);
      return Object.assign(err, { details: status.details, reason: status.reason ?? err.reason });
    }
    return new ApiError(code, status.reason ?? 'Unknown', message, status.details);
  }
}

const what = (kind: string, name: string) => `${kind} "${name}"`;

export class BadRequestError extends ApiError {
  constructor(message = 'bad request', details?: ErrorDetails) { super(400, 'BadRequest', message, details); }
}
export class UnauthorizedError extends ApiError {
  constructor(message = 'Unauthorized') { super(401, 'Unauthorized', message); }
}
export class ForbiddenError extends ApiError {
  constructor(message = 'forbidden') { super(403, 'Forbidden', message); }
}
export class NotFoundError extends ApiError {
  constructor(message = 'not found', details?: ErrorDetails) { super(404, 'NotFound', message, details); }
  static of(resource: string, name: string): NotFoundError {
    return new NotFoundError(`${what(resource, name)} not found`, { name, kind: resource });
  }
}
export class MethodNotAllowedError extends ApiError {
  constructor(message = 'the server does not allow this method on the requested resource') {
    super(405, 'MethodNotAllowed', message);
  }
}
export class NotAcceptableError extends ApiError {
  constructor(message = 'the server cannot produce the requested content type') { super(406, 'NotAcceptable', message); }
}
export class AlreadyExistsError extends ApiError {
  constructor(message = 'already exists', details?: ErrorDetails) { super(409, 'AlreadyExists', message, details); }
  static of(resource: string, name: string): AlreadyExistsError {
    return new AlreadyExistsError(`${what(resource, name)} already exists`, { name, kind: resource });
  }
}
export class ConflictError extends ApiError {
  constructor(message = 'the object has been modified; please apply your changes to the latest version and try again',
    details?: ErrorDetails) {
    super(409, 'Conflict', message, details);
  }
}
export class GoneError extends ApiError {
  constructor(message = 'too old resource version') { super(410, 'Expired', message); }
}
export class RequestTimeoutError extends ApiError {
  constructor(message = 'the request was not received in time') { super(408, 'Timeout', message); }
}
export class TooLargeError extends ApiError {
  constructor(message = 'request entity too large') { super(413, 'RequestEntityTooLarge', message); }
}
export class UnsupportedMediaTypeError extends ApiError {
  constructor(message = 'unsupported media type') { super(415, 'UnsupportedMediaType', message); }
}
export class HeadersTooLargeError extends ApiError {
  constructor(message = 'the request headers are larger than the server accepts') { super(431, 'RequestHeaderFieldsTooLarge', message); }
}
export class InvalidError extends ApiError {
  constructor(kind: string, name: string, causes: StatusCause[]) {
    const list = causes.map((c) => (c.field ? `${c.field}: ${c.message}` : c.message)).join(', ');
    super(422, 'Invalid', `${kind} "${name}" is invalid: ${list}`, { name, kind, causes });
  }
}
export class TooManyRequestsError extends ApiError {
  constructor(message = 'too many requests') { super(429, 'TooManyRequests', message); }
}
export class InternalError extends ApiError {
  constructor(message = 'an internal error occurred', options?: { cause?: unknown }) {
    super(500, 'InternalError', message, undefined, options);
  }
}
export class ServiceUnavailableError extends ApiError {
  constructor(message = 'service unavailable') { super(503, 'ServiceUnavailable', message); }
}

type ErrorClass = new (message?: string) => ApiError;
const byCode = new Map<number, ErrorClass>([
  [400, BadRequestError], [401, UnauthorizedError], [403, ForbiddenError], [404, NotFoundError],
  [405, MethodNotAllowedError], [406, NotAcceptableError], [408, RequestTimeoutError], [410, GoneError], [413, TooLargeError],
  [415, UnsupportedMediaTypeError], [431, HeadersTooLargeError], [422, InvalidError as unknown as ErrorClass],
  [429, TooManyRequestsError], [500, InternalError], [503, ServiceUnavailableError],
]);

/** 409 covers two reasons; tell them apart by the reason the server sent. */
export function isConflict(err: unknown): err is ApiError {
  return err instanceof ApiError && err.code === 409 && err.reason === 'Conflict';
}
export function isAlreadyExists(err: unknown): err is ApiError {
  return err instanceof ApiError && err.code === 409 && err.reason === 'AlreadyExists';
}
export function isNotFound(err: unknown): err is ApiError {
  return err instanceof ApiError && err.code === 404;
}
export function isGone(err: unknown): err is ApiError {
  return err instanceof ApiError && err.code === 410;
}
