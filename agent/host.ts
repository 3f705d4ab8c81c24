// What this machine is and how busy it is, as systeminformation reports it (the library the
// issue names for node resources), plus the device tree's board name where there is one.
import { existsSync, readFileSync } from 'node:fs';
import { kubernetesArch } from './images.ts';

// Only the systeminformation modules the agent uses, each loaded on first use: the package's
// index loads all of them (network, wifi, printers, Docker...), about 6 MB more RSS on Node 18,
// on a board where the agent has 60 MB in all. Types: runtime/systeminformation-lib.d.ts.
const cpuInfo = async () => (await import('systeminformation/lib/cpu.js')).default;
const memoryInfo = async () => (await import('systeminformation/lib/memory.js')).default;
const osInfo = async () => (await import('systeminformation/lib/osinfo.js')).default;
const systemInfo = async () => (await import('systeminformation/lib/system.js')).default;

export interface Facts {
  cores: number; memoryBytes: number; arch: string; variant?: string; os: string; osImage: string; kernel: string;
  hostname: string; boardModel?: string; cpuTemperature?: number; machineId?: string;
}
export interface Usage { cpuCores: number; memoryBytes: number }

/** The device tree names the board on a Pi and most other SBCs ("Raspberry Pi 4 Model B Rev 1.4"); a PC has none. */
export function boardModelFrom(deviceTreeModel: string): string | undefined {
  return deviceTreeModel.replace(/\0/g, '').trim().replace(/ Rev [\d.]+$/, '') || undefined;
}

/** osImage as Kubernetes reports it (os-release's PRETTY_NAME): "Debian GNU/Linux 12 (bookworm)". */
export function osImageFrom(os: { distro: string; release: string; codename: string }): string {
  return [os.distro, os.release, os.codename && `(${os.codename})`].filter(Boolean).join(' ') || 'Linux';
}

/** Facts that do not change while the agent runs. */
export async function measureFacts(): Promise<Facts> {
  const [cpuLib, memLib, osLib, systemLib] = await Promise.all([cpuInfo(), memoryInfo(), osInfo(), systemInfo()]);
  const [cpu, mem, os, system, uuid] = await Promise.all([cpuLib.cpu(), memLib.mem(), osLib.osInfo(), systemLib.system(), osLib.uuid()]);
  const arch = kubernetesArch();
  const deviceTree = existsSync('/proc/device-tree/model') ? readFileSync('/proc/device-tree/model', 'utf8') : '';
  const boardModel = boardModelFrom(deviceTree) ?? (system.raspberry ? boardModelFrom(system.model) : undefined);
  return {
    cores: cpu.cores, memoryBytes: mem.total, arch, ...(arch === 'arm' && { variant: 'v7' }),
    os: 'linux', osImage: osImageFrom(os), kernel: os.kernel, hostname: os.hostname,
    ...(boardModel && { boardModel }),
    ...(uuid.os && { machineId: uuid.os }),
  };
}

export async function measureUsage(): Promise<Usage & { cpuTemperature?: number }> {
  const [cpuLib, memLib] = await Promise.all([cpuInfo(), memoryInfo()]);
  const [load, mem, temp] = await Promise.all([cpuLib.currentLoad(), memLib.mem(), cpuLib.cpuTemperature()]);
  return {
    cpuCores: (load.currentLoad / 100) * load.cpus.length,
    // `active` is what the kernel counts as in use, not page cache that would be given back.
    memoryBytes: mem.active,
    ...(typeof temp.main === 'number' && temp.main > 0 && { cpuTemperature: temp.main }),
  };
}
