import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/**
 * The nats-server executable for the demo's servers: on Linux with util-linux `setpriv`, a wrapper that has
 * the kernel kill each server when the orchestrator dies (see tethered-nats-server.sh); elsewhere
 * `undefined`, the plain default, which a SIGKILLed orchestrator would leave running.
 */
export function tetheredNatsServer(): string | undefined {
  if (process.platform !== 'linux') return undefined;
  const probe = spawnSync('setpriv', ['--help'], { encoding: 'utf8' });
  if (probe.error || !probe.stdout.includes('--pdeathsig')) return undefined;
  return fileURLToPath(new URL('tethered-nats-server.sh', import.meta.url));
}
