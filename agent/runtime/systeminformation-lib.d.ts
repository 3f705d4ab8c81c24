// Types for the systeminformation modules host.ts loads one by one. The package types only its
// index, and the index loads all of its modules (network, wifi, printers, Docker, ...).
type Si = typeof import('systeminformation');

declare module 'systeminformation/lib/cpu.js' {
  const cpu: Pick<Si, 'cpu' | 'currentLoad' | 'cpuTemperature'>;
  export default cpu;
}
declare module 'systeminformation/lib/memory.js' {
  const memory: Pick<Si, 'mem'>;
  export default memory;
}
declare module 'systeminformation/lib/osinfo.js' {
  const osinfo: Pick<Si, 'osInfo' | 'uuid'>;
  export default osinfo;
}
declare module 'systeminformation/lib/system.js' {
  const system: Pick<Si, 'system'>;
  export default system;
}
