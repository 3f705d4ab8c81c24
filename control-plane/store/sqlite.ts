// The embedded store: SQLite in WAL mode with a revision log, as k3s's kine keeps etcd's model in
// a SQL table. `log` holds every write (the watch history); `current` holds the latest object per
// key (what get and list read).
//
// Group commit: the writes made in one turn of the event loop share one transaction, committed
// (synchronous=FULL: fsync) at the end of the turn. Watch events go out after that commit, and
// the API server answers a request only after `sync()`, so an acknowledged or observed write
// survives kill -9 and power loss alike, while 30 concurrent writes cost one fsync, not 30.
import { chmodSync, closeSync, existsSync, openSync } from 'node:fs';
import Database from 'better-sqlite3';
import { AlreadyExistsError, ConflictError, GoneError, NotFoundError } from '../api/errors.ts';
import type { KubeObject } from '../api/meta.ts';
import { WatcherSet, type JsonListResult, type ListResult, type Store, type StoreEvent, type StoreEventType, type Unsubscribe } from './types.ts';

export interface SqliteStoreOptions {
  path: string;
  /** Keep at least this many revisions of history for watches to resume from. */
  historyRevisions?: number;
  /** ...and at most this old (ms), so an idle lab does not keep history forever. */
  historyAgeMs?: number;
  /** How often to compact (ms); 0 disables the timer (tests compact by hand). */
  compactIntervalMs?: number;
  now?: () => number;
}

// 10,000 revisions is a few minutes of a busy lab: enough for a watcher that reconnects after a
// network blip to resume instead of relisting.
const defaultHistoryRevisions = 10_000;
// Kubernetes' API server compacts etcd every 5 minutes; the same age bounds history here.
const defaultHistoryAgeMs = 5 * 60_000;
const defaultCompactIntervalMs = 60_000;
// Every object and the node credentials' hashes: readable by the server's user only.
const databaseFileMode = 0o600;

const typeCode: Record<StoreEventType, number> = { ADDED: 0, MODIFIED: 1, DELETED: 2 };
const typeName: StoreEventType[] = ['ADDED', 'MODIFIED', 'DELETED'];

interface LogRow { revision: number; key: string; type: number; prev_revision: number; value: string }

export class SqliteStore implements Store {
  private readonly db: Database.Database;
  private readonly watchers = new WatcherSet();
  private readonly now: () => number;
  private readonly historyRevisions: number;
  private readonly historyAgeMs: number;
  private readonly timer?: NodeJS.Timeout;
  private rev: number;
  /** The newest revision known to be on disk: watches never replay past it. */
  private committedRev: number;
  private compactRev: number;
  private readonly stmt;
  /** Events of the open transaction, sent to watchers when it commits. */
  private pending: StoreEvent[] = [];
  private commitWaiters: { resolve: () => void; reject: (err: Error) => void }[] = [];
  private commitScheduled = false;

  constructor(options: SqliteStoreOptions) {
    this.now = options.now ?? Date.now;
    this.historyRevisions = options.historyRevisions ?? defaultHistoryRevisions;
    this.historyAgeMs = options.historyAgeMs ?? defaultHistoryAgeMs;
    const onDisk = options.path !== ':memory:' && options.path !== '';
    // SQLite creates the -wal and -shm files with the database file's mode, so the database is
    // made 0600 before SQLite first opens it; an existing one (and its WAL) is tightened too.
    if (onDisk) closeSync(openSync(options.path, 'a', databaseFileMode));
    if (onDisk) chmodSync(options.path, databaseFileMode);
    this.db = new Database(options.path);
    this.db.pragma('journal_mode = WAL');
    for (const suffix of ['-wal', '-shm']) {
      if (onDisk && existsSync(options.path + suffix)) chmodSync(options.path + suffix, databaseFileMode);
    }
    this.db.pragma('synchronous = FULL');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS log (
        revision INTEGER PRIMARY KEY AUTOINCREMENT,
        key TEXT NOT NULL,
        type INTEGER NOT NULL,
        prev_revision INTEGER NOT NULL,
        value TEXT NOT NULL,
        created_at INTEGER NOT NULL
      );
      CREATE INDEX IF NOT EXISTS log_key ON log (key, revision);
      CREATE TABLE IF NOT EXISTS current (key TEXT PRIMARY KEY, revision INTEGER NOT NULL, value TEXT NOT NULL) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
    `);
    this.stmt = {
      get: this.db.prepare<[string], { revision: number; value: string }>('SELECT revision, value FROM current WHERE key = ?'),
      list: this.db.prepare<[string, string], { value: string }>('SELECT value FROM current WHERE key >= ? AND key < ? ORDER BY key'),
      insertLog: this.db.prepare('INSERT INTO log (key, type, prev_revision, value, created_at) VALUES (?, ?, ?, ?, ?)'),
      upsert: this.db.prepare('INSERT INTO current (key, revision, value) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET revision = excluded.revision, value = excluded.value'),
      remove: this.db.prepare('DELETE FROM current WHERE key = ?'),
      history: this.db.prepare<[number, string, string], LogRow>('SELECT revision, key, type, prev_revision, value FROM log WHERE revision > ? AND key >= ? AND key < ? ORDER BY revision'),
      valueAt: this.db.prepare<[number], { value: string }>('SELECT value FROM log WHERE revision = ?'),
      maxRevision: this.db.prepare<[], { r: number | null }>("SELECT max(seq) AS r FROM sqlite_sequence WHERE name = 'log'"),
      compactRevision: this.db.prepare<[], { value: number }>("SELECT value FROM meta WHERE name = 'compact_revision'"),
      setCompactRevision: this.db.prepare("INSERT INTO meta (name, value) VALUES ('compact_revision', ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value"),
      firstRevisionSince: this.db.prepare<[number], { r: number | null }>('SELECT min(revision) AS r FROM log WHERE created_at >= ?'),
      compact: this.db.prepare(`DELETE FROM log WHERE revision < @c AND (type = 2 OR revision <
        (SELECT max(l2.revision) FROM log l2 WHERE l2.key = log.key AND l2.revision <= @c))`),
    };
    this.rev = this.stmt.maxRevision.get()?.r ?? 0;
    this.committedRev = this.rev;
    this.compactRev = this.stmt.compactRevision.get()?.value ?? 0;
    const interval = options.compactIntervalMs ?? defaultCompactIntervalMs;
    if (interval > 0) {
      this.timer = setInterval(() => this.compact(), interval);
      this.timer.unref();
    }
  }

  get(key: string): KubeObject | undefined {
    const row = this.stmt.get.get(key);
    return row ? (JSON.parse(row.value) as KubeObject) : undefined;
  }

  list(prefix: string): ListResult {
    const items = this.stmt.list.all(prefix, prefixEnd(prefix)).map((r) => JSON.parse(r.value) as KubeObject);
    return { items, revision: this.rev };
  }

  /** The rows are JSON already: a plain list passes them on as they are. */
  listJson(prefix: string): JsonListResult {
    return { items: this.stmt.list.all(prefix, prefixEnd(prefix)).map((r) => r.value), revision: this.rev };
  }

  create(key: string, obj: KubeObject): KubeObject {
    if (this.stmt.get.get(key)) throw new AlreadyExistsError();
    return this.write('ADDED', key, obj, 0);
  }

  update(key: string, obj: KubeObject, expectedRevision?: number): KubeObject {
    const prev = this.currentOrThrow(key, expectedRevision);
    return this.write('MODIFIED', key, obj, prev.revision, prev.value);
  }

  delete(key: string, expectedRevision?: number): KubeObject {
    const prev = this.currentOrThrow(key, expectedRevision);
    return this.write('DELETED', key, JSON.parse(prev.value) as KubeObject, prev.revision, prev.value);
  }

  watch(prefix: string, afterRevision: number | undefined, onEvent: (event: StoreEvent) => void): Unsubscribe {
    let replayed = afterRevision ?? this.committedRev;
    if (afterRevision !== undefined) {
      if (afterRevision < this.compactRev) throw new GoneError(`too old resource version: ${afterRevision} (${this.compactRev})`);
      // Replay and subscribe in one synchronous step: no write can fall between them.
      for (const row of this.stmt.history.iterate(afterRevision, prefix, prefixEnd(prefix))) {
        if (row.revision > this.committedRev) break; // the rest reaches this watcher at commit
        onEvent(this.eventFromRow(row));
      }
      replayed = Math.max(afterRevision, Math.min(this.committedRev, replayed));
    }
    return this.watchers.add(prefix, onEvent, replayed);
  }

  sync(): Promise<void> {
    if (!this.db.inTransaction) return Promise.resolve();
    return new Promise((resolve, reject) => this.commitWaiters.push({ resolve, reject }));
  }

  revision(): number { return this.rev; }
  compactedRevision(): number { return this.compactRev; }
  get watcherCount(): number { return this.watchers.size; }

  /**
   * Drops history older than both bounds allow. A key's latest write before the compaction point
   * is kept (it is the `prev` of the next write); tombstones before it go entirely.
   */
  compact(): number {
    const byCount = this.rev - this.historyRevisions;
    const byAge = (this.stmt.firstRevisionSince.get(this.now() - this.historyAgeMs)?.r ?? this.rev + 1) - 1;
    const target = Math.min(this.committedRev, Math.max(byCount, byAge));
    if (target <= this.compactRev) return this.compactRev;
    this.db.transaction(() => {
      this.stmt.compact.run({ c: target });
      this.stmt.setCompactRevision.run(target);
    })();
    this.compactRev = target;
    return target;
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.db.inTransaction) this.commit();
    this.db.close();
  }

  /** Ends the open transaction: on disk first, then watchers, then everyone awaiting sync(). */
  private commit(): void {
    this.commitScheduled = false;
    if (!this.db.inTransaction) return;
    const events = this.pending;
    const waiters = this.commitWaiters;
    this.pending = [];
    this.commitWaiters = [];
    try {
      this.db.exec('COMMIT');
    } catch (err) {
      // Nothing in this batch was acknowledged yet: roll it back and fail its requests.
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
      this.rev = this.committedRev;
      waiters.forEach((w) => w.reject(err as Error));
      return;
    }
    this.committedRev = this.rev;
    for (const event of events) this.watchers.emit(event);
    waiters.forEach((w) => w.resolve());
  }

  private openBatch(): void {
    if (this.db.inTransaction) return;
    this.db.exec('BEGIN IMMEDIATE');
    if (!this.commitScheduled) {
      this.commitScheduled = true;
      setImmediate(() => this.commit());
    }
  }

  private currentOrThrow(key: string, expectedRevision?: number): { revision: number; value: string } {
    const row = this.stmt.get.get(key);
    if (!row) throw new NotFoundError();
    if (expectedRevision !== undefined && expectedRevision !== row.revision) throw new ConflictError();
    return row;
  }

  private write(type: StoreEventType, key: string, obj: KubeObject, prevRevision: number, prevValue?: string): KubeObject {
    this.openBatch();
    // A savepoint inside the batch: a write that fails leaves the others in the batch intact.
    const written = this.db.transaction(() => {
      const revision = this.rev + 1;
      const stored: KubeObject = { ...obj, metadata: { ...obj.metadata, resourceVersion: String(revision) } };
      const value = JSON.stringify(stored);
      const info = this.stmt.insertLog.run(key, typeCode[type], prevRevision, value, this.now());
      if (Number(info.lastInsertRowid) !== revision) throw new Error(`revision out of step: ${info.lastInsertRowid} != ${revision}`);
      if (type === 'DELETED') this.stmt.remove.run(key);
      else this.stmt.upsert.run(key, revision, value);
      return { revision, stored };
    })();
    this.rev = written.revision;
    const event: StoreEvent = { type, key, revision: written.revision, object: written.stored };
    if (prevValue !== undefined) event.prev = JSON.parse(prevValue) as KubeObject;
    this.pending.push(event);
    return written.stored;
  }

  private eventFromRow(row: LogRow): StoreEvent {
    const event: StoreEvent = { type: typeName[row.type]!, key: row.key, revision: row.revision, object: JSON.parse(row.value) as KubeObject };
    if (row.prev_revision > 0) {
      const prev = this.stmt.valueAt.get(row.prev_revision);
      if (prev) event.prev = JSON.parse(prev.value) as KubeObject;
    }
    if (event.type === 'DELETED') {
      event.object = { ...event.object, metadata: { ...event.object.metadata, resourceVersion: String(row.revision) } };
    }
    return event;
  }
}

/** The smallest string greater than every string that starts with `prefix`. */
export function prefixEnd(prefix: string): string {
  return prefix + '\uffff';
}
