// What this machine is and how busy it is, as systeminformation reports it (the library the
// issue names for node resources), plus the device tree's board name where there is one.
import { existsSync, readFileSync } from 'node:fs';
import si from 'systeminformation';
import { kubernetesArch } from './images.ts';

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
  const [cpu, mem, os, system, uuid] = await Promise.all([si.cpu(), si.mem(), si.osInfo(), si.system(), si.uuid()]);
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
  const [load, mem, temp] = await Promise.all([si.currentLoad(), si.mem(), si.cpuTemperature()]);
  return {
    cpuCores: (load.currentLoad / 100) * load.cpus.length,
    // `active` is what the kernel counts as in use, not page cache that would be given back.
    memoryBytes: mem.active,
    ...(typeof temp.main === 'number' && temp.main > 0 && { cpuTemperature: temp.main }),
  };
}
