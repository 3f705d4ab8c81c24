// A small typed wrapper over iptables for the agent's own chains (pod network, node proxy).
// Chains are filled atomically with `iptables-restore --noflush` (kube-proxy's way): a rule set
// is swapped in one transaction, so no packet sees a half-written chain, and chains we do not
// name in the input are left alone. Single checks and jumps use `iptables -w` so we queue behind
// Docker's and other tools' xtables lock instead of failing.
import { exitedWith, runCommand, type CommandRunner } from './exec.ts';

export type IptablesTable = 'filter' | 'nat' | 'mangle' | 'raw';

export interface IptablesOptions {
  /** Replaces the host's tools in tests. */
  run?: CommandRunner;
  iptablesPath?: string;
  restorePath?: string;
  /** Seconds to wait for the xtables lock. */
  lockWaitSeconds?: number;
}

// Docker and other agents' tools take the lock for well under a second; 5 s rides out a burst.
const defaultLockWaitSeconds = 5;

/** Quotes one argument for iptables-restore's line parser (it honours double quotes, as in iptables-save). */
function restoreArg(arg: string): string {
  return /^[A-Za-z0-9_.:/!,=+@%-]+$/.test(arg) ? arg : `"${arg.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

export class Iptables {
  private readonly run: CommandRunner;
  private readonly iptables: string;
  private readonly restore: string;
  private readonly wait: string;

  constructor(options: IptablesOptions = {}) {
    this.run = options.run ?? runCommand;
    this.iptables = options.iptablesPath ?? 'iptables';
    this.restore = options.restorePath ?? 'iptables-restore';
    this.wait = String(options.lockWaitSeconds ?? defaultLockWaitSeconds);
  }

  /** Whether iptables runs here with the rights to read the filter and nat tables. */
  async available(): Promise<boolean> {
    try {
      await this.ipt('filter', ['-S', 'FORWARD']);
      await this.ipt('nat', ['-S', 'POSTROUTING']);
      return true;
    } catch {
      return false; // missing binary, no CAP_NET_ADMIN, or no kernel support: all mean "no iptables"
    }
  }

  async chainExists(table: IptablesTable, chain: string): Promise<boolean> {
    try {
      await this.ipt(table, ['-S', chain]);
      return true;
    } catch (err) {
      if (exitedWith(err, 1)) return false;
      throw err;
    }
  }

  /** Creates the chain if it is missing; an existing chain keeps its rules. */
  async ensureChain(table: IptablesTable, chain: string): Promise<void> {
    if (await this.chainExists(table, chain)) return;
    try {
      await this.ipt(table, ['-N', chain]);
    } catch (err) {
      if (!(await this.chainExists(table, chain))) throw err; // otherwise another writer created it first
    }
  }

  /**
   * Makes `fromChain` jump to `toChain`, which must exist (with `match` args before the jump, e.g. ['-m', 'comment',
   * '--comment', 'labkube']). 'first' also moves an existing jump back to the top: Docker inserts its
   * own rules first in FORWARD when it restarts.
   */
  async ensureJump(table: IptablesTable, fromChain: string, toChain: string, position: 'first' | 'last', match: string[] = []): Promise<void> {
    const rule = [...match, '-j', toChain];
    const present = await this.ruleExists(table, fromChain, rule);
    if (present && position === 'last') return;
    if (present) {
      const first = (await this.listRules(table, fromChain))[0] ?? '';
      if (first.endsWith(` -j ${toChain}`)) return;
      await this.removeJump(table, fromChain, toChain, match);
    }
    await this.ipt(table, position === 'first' ? ['-I', fromChain, '1', ...rule] : ['-A', fromChain, ...rule]);
  }

  /** Removes every copy of the jump; a missing jump or chain is fine. */
  async removeJump(table: IptablesTable, fromChain: string, toChain: string, match: string[] = []): Promise<void> {
    // iptables refuses a jump to a missing chain, so none can exist; and -C would exit 2 here.
    if (!(await this.chainExists(table, toChain))) return;
    const rule = [...match, '-j', toChain];
    // Bounded: each pass removes one copy, and a chain never holds many copies of one jump.
    for (let i = 0; i < 100 && (await this.ruleExists(table, fromChain, rule)); i++) await this.ipt(table, ['-D', fromChain, ...rule]);
  }

  /** The chain's rules as `iptables -S` prints them (`-A CHAIN ...`), without the `-N`/`-P` line. */
  async listRules(table: IptablesTable, chain: string): Promise<string[]> {
    const { stdout } = await this.ipt(table, ['-S', chain]);
    return stdout.split('\n').filter((l) => l.startsWith('-A '));
  }

  /** Replaces all rules of `chain` (created if missing) with `rules` (each the args after `-A CHAIN`), atomically. */
  async replaceRules(table: IptablesTable, chain: string, rules: string[][]): Promise<void> {
    const lines = [`*${table}`, `:${chain} - [0:0]`, ...rules.map((r) => [`-A`, chain, ...r].map(restoreArg).join(' ')), 'COMMIT', ''];
    await this.run(this.restore, ['-w', this.wait, '--noflush'], lines.join('\n'));
  }

  /** Removes every jump to `chain` in `table`, then the chain itself; a missing chain is fine. */
  async deleteChain(table: IptablesTable, chain: string): Promise<void> {
    if (!(await this.chainExists(table, chain))) return;
    const { stdout } = await this.ipt(table, ['-S']);
    // `-S` prints restore syntax, quotes included, so a jump line turns into its own delete line.
    const jumps = stdout.split('\n').filter((l) => l.startsWith('-A ') && jumpTarget(l) === chain);
    const lines = [`*${table}`, ...jumps.map((l) => `-D${l.slice(2)}`), `:${chain} - [0:0]`, `-X ${chain}`, 'COMMIT', ''];
    await this.run(this.restore, ['-w', this.wait, '--noflush'], lines.join('\n'));
  }

  private async ruleExists(table: IptablesTable, chain: string, rule: string[]): Promise<boolean> {
    try {
      await this.ipt(table, ['-C', chain, ...rule]);
      return true;
    } catch (err) {
      // -C exits 1 when the rule (or the chain it names) is missing; 2 for a bad rule, which is a bug.
      if (exitedWith(err, 1)) return false;
      throw err;
    }
  }

  private ipt(table: IptablesTable, args: string[]) {
    return this.run(this.iptables, ['-w', this.wait, '-t', table, ...args]);
  }
}

/** The chain a rule line from `iptables -S` jumps or goes to. */
function jumpTarget(line: string): string | undefined {
  return / -[jg] (\S+)(?: |$)/.exec(line)?.[1];
}
