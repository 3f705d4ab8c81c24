// The node's CPU, memory and SoC temperature for the metrics API, read straight from the kernel:
// /proc/stat, /proc/meminfo and /sys/class/thermal. Three small file reads every push, where
// systeminformation's currentLoad and cpuTemperature took 0.5 to 2 s on a busy 2-core machine
// (the temperature by spawning shells to search hwmon and `sensors`): too much for a Pi every 15 s.
// Linux only, as the agent is.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NodeUsageSample } from './metrics-pusher.ts';

/** Cumulative CPU time of the whole machine, in USER_HZ ticks, and how many CPUs share it. */
export interface CpuTimes { busy: number; total: number; cpus: number }

/** The `cpu` line of /proc/stat: busy is everything but idle and iowait (as top and the kubelet count it). */
export function parseProcStat(text: string): CpuTimes | undefined {
  const lines = text.split('\n');
  const all = lines.find((l) => l.startsWith('cpu '));
  if (!all) return undefined;
  // user nice system idle iowait irq softirq steal (guest and guest_nice are already in user and nice)
  const f = all.trim().split(/\s+/).slice(1, 9).map(Number);
  if (f.length < 4 || f.some((n) => !Number.isFinite(n))) return undefined;
  const total = f.reduce((a, b) => a + b, 0);
  const idle = f[3]! + (f[4] ?? 0);
  return { busy: total - idle, total, cpus: Math.max(1, lines.filter((l) => /^cpu\d+ /.test(l)).length) };
}

/** Cores in use between two readings; undefined when no time passed. */
export function coresBetween(before: CpuTimes, after: CpuTimes): number | undefined {
  const total = after.total - before.total;
  if (total <= 0) return undefined;
  return Math.max(0, Math.min(after.cpus, ((after.busy - before.busy) / total) * after.cpus));
}

/**
 * Memory in use as the kubelet counts a node's working set: everything not free, less the
 * inactive file cache (pages the kernel drops first), in bytes.
 */
export function workingSetFromMeminfo(text: string): number | undefined {
  const kb = (key: string) => {
    const m = new RegExp(`^${key.replace(/[()]/g, '\\$&')}:\\s+(\\d+) kB`, 'm').exec(text);
    return m ? Number(m[1]) : undefined;
  };
  const total = kb('MemTotal');
  const free = kb('MemFree');
  if (total === undefined || free === undefined) return undefined;
  return Math.max(0, total - free - (kb('Inactive(file)') ?? 0)) * 1024;
}

// Thermal zone types of SoCs and CPUs, most specific first: Raspberry Pi and most ARM boards
// ("cpu-thermal", "soc-thermal", "cpu0-thermal"), Intel ("x86_pkg_temp"), AMD ("k10temp").
const cpuZoneTypes = [/^cpu-?thermal$/, /^soc[-_]thermal$/, /^cpu\d*-thermal$/, /^x86_pkg_temp$/, /^k10temp$/];

/** The SoC temperature in °C, from the thermal zone that names the CPU (or the only zone); undefined where there is none. */
export function readCpuTemperature(root = '/sys/class/thermal'): number | undefined {
  let zones: { type: string; path: string }[];
  try {
    zones = readdirSync(root).filter((z) => z.startsWith('thermal_zone'))
      .map((z) => ({ type: readFileSync(join(root, z, 'type'), 'utf8').trim(), path: join(root, z, 'temp') }));
  } catch {
    return undefined; // no thermal zones (a VM, a container without /sys/class/thermal)
  }
  const zone = cpuZoneTypes.map((t) => zones.find((z) => t.test(z.type))).find(Boolean) ?? (zones.length === 1 ? zones[0] : undefined);
  if (!zone) return undefined;
  try {
    const milli = Number(readFileSync(zone.path, 'utf8').trim());
    return Number.isFinite(milli) && milli > 0 ? milli / 1000 : undefined;
  } catch {
    return undefined;
  }
}

/** Samples the node: CPU averaged since the previous call (since boot on the first), memory and temperature now. */
export class NodeUsageReader {
  private previous?: CpuTimes;

  constructor(private readonly paths = { stat: '/proc/stat', meminfo: '/proc/meminfo', thermal: '/sys/class/thermal' }) {}

  async read(): Promise<NodeUsageSample> {
    const now = parseProcStat(readFileSync(this.paths.stat, 'utf8'));
    const memoryBytes = workingSetFromMeminfo(readFileSync(this.paths.meminfo, 'utf8'));
    if (!now || memoryBytes === undefined) throw new Error('cannot read /proc/stat or /proc/meminfo');
    const cpuCores = coresBetween(this.previous ?? { busy: 0, total: 0, cpus: now.cpus }, now) ?? 0;
    this.previous = now;
    const cpuTemperature = readCpuTemperature(this.paths.thermal);
    return { cpuCores, memoryBytes, ...(cpuTemperature !== undefined && { cpuTemperature }) };
  }
}
