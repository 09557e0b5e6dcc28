import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tetheredNatsServer } from '../examples/cluster/tethered-nats-server.js';

const ROOT = join(import.meta.dirname, '..');
const TSX = join(ROOT, 'node_modules', '.bin', 'tsx');

interface Run {
  code: number | null;
  stdout: string;
}

/**
 * Runs `examples/cluster/main.ts --quick` as a user would (through tsx), killed with SIGKILL after
 * `timeoutMs`; `onLine` sees each output line with the process, e.g. to interrupt it.
 */
function runCluster(timeoutMs: number, onLine?: (line: string, child: ChildProcess) => void): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(
      TSX,
      ['--conditions=@geoml/source', join(ROOT, 'examples', 'cluster', 'main.ts'), '--quick'],
      {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let partial = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.on('data', (d: Buffer) => {
      stdout += d;
      const lines = (partial + d).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) onLine?.(line, child);
    });
    child.stderr.on('data', (d: Buffer) => {
      stdout += d;
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout });
    });
  });
}

/** Every process the run announced: its nats-servers and its children. */
const announcedPids = (stdout: string) => [...stdout.matchAll(/\bpid (\d+)\)/g)].map((m) => Number(m[1]));

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // An orphan that has exited stays a zombie until the init process reaps it: not running.
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true;
  }
};

/** Deletes the temp dir of the (gone) nats-server `pid`, found by the ports file it wrote there. */
function removeServerDir(pid: number): void {
  for (const name of readdirSync(tmpdir())) {
    const dir = join(tmpdir(), name);
    if (name.startsWith('geoml-nats-') && existsSync(join(dir, `nats-server_${pid}.ports`)))
      rmSync(dir, { recursive: true, force: true });
  }
}

/** Resolves once none of `pids` runs, or after `ms` with those still running. */
async function survivors(pids: number[], ms: number): Promise<number[]> {
  const end = Date.now() + ms;
  for (;;) {
    const left = pids.filter(alive);
    if (left.length === 0 || Date.now() > end) return left;
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('examples/cluster (multi-process: regional nats-servers, training, serving, load)', () => {
  it('trains across three region processes, serves the published model over HTTP, and leaves no process behind', async () => {
    const { code, stdout } = await runCluster(150_000);
    expect(code, stdout).toBe(0);
    // every region process trained, the first one published v1, and the serving process swapped it in
    for (const region of ['virginia', 'frankfurt', 'singapore'])
      expect(stdout).toMatch(new RegExp(`\\[train ${region}\\] done in [\\d.]+ s: acc 0\\.\\d+`));
    const published = stdout.match(/published mnist v(\d+) \(onnx\)/)?.[1];
    expect(published).toBeDefined();
    expect(stdout).toContain(`[serve] serving mnist v${published}`);
    expect(stdout).toContain(`versions served v${published}`);
    // the load generator got answers and none failed
    const load = stdout.match(/\[load\] (\d+) requests, .* failed (\d+).*, accuracy ([\d.]+)/);
    expect(load, stdout).not.toBeNull();
    expect(Number(load?.[1])).toBeGreaterThan(0);
    expect(Number(load?.[2])).toBe(0);
    // a trained model, not the initial one, answers: well above chance on held-out digits
    expect(Number(load?.[3])).toBeGreaterThan(0.3);
    // gateway traffic crossed the shaped WAN links
    const wan = [...stdout.matchAll(/^ {2}\w+ → \w+ +([\d.]+) MB$/gm)].map((m) => Number(m[1]));
    expect(wan.length).toBe(6);
    expect(wan.reduce((a, b) => a + b, 0)).toBeGreaterThan(0.1);
    // no child process and no nats-server of this run is left: 3 servers, 3 trainers, serving, load
    const pids = announcedPids(stdout);
    expect(pids.length).toBe(8);
    for (const pid of pids) expect(alive(pid), `pid ${pid} still running`).toBe(false);
  }, 180_000);

  it('on SIGINT mid-training stops every child and nats-server and exits 130', async () => {
    let interrupted = false;
    const { code, stdout } = await runCluster(120_000, (line, child) => {
      if (!interrupted && /^\[train \w+\] clock \d+\//.test(line)) {
        interrupted = true;
        child.kill('SIGINT');
      }
    });
    expect(interrupted, stdout).toBe(true);
    expect(code, stdout).toBe(130);
    expect(stdout).toContain('[cluster] SIGINT: interrupted');
    expect(stdout).not.toContain('geoml cluster demo: done');
    const pids = announcedPids(stdout);
    expect(pids.length).toBe(3 + 4);
    for (const pid of pids) expect(alive(pid), `pid ${pid} still running`).toBe(false);
  }, 150_000);

  it('when a region process dies, stops everything else and exits 1', async () => {
    let killed: number | undefined;
    let target: number | undefined;
    const { code, stdout } = await runCluster(120_000, (line) => {
      target ??= Number(/started train singapore \(pid (\d+)\)/.exec(line)?.[1]) || undefined;
      if (killed === undefined && target !== undefined && /^\[train \w+\] clock \d+\//.test(line)) {
        killed = target;
        process.kill(killed, 'SIGKILL');
      }
    });
    expect(killed, stdout).toBeGreaterThan(0);
    expect(code, stdout).toBe(1);
    expect(stdout).toContain('[cluster] train singapore exited with SIGKILL');
    expect(stdout).not.toContain('geoml cluster demo: done');
    const pids = announcedPids(stdout);
    expect(pids.length).toBe(3 + 4);
    for (const pid of pids) expect(alive(pid), `pid ${pid} still running`).toBe(false);
  }, 150_000);

  it('when the orchestrator itself is killed -9, its nats-servers and children do not outlive it', async () => {
    let orchestrator: number | undefined;
    let killed = false;
    const { code, stdout } = await runCluster(120_000, (line) => {
      orchestrator ??= Number(/^\[cluster\] orchestrator pid (\d+)$/.exec(line)?.[1]) || undefined;
      if (!killed && orchestrator !== undefined && /^\[train \w+\] clock \d+\//.test(line)) {
        killed = true;
        process.kill(orchestrator, 'SIGKILL');
      }
    });
    expect(killed, `exit ${code}\n${stdout}`).toBe(true);
    // no clean-up ran: the process had no chance to stop anything itself
    expect(stdout).not.toContain('[cluster] stopping every process');
    const pids = announcedPids(stdout);
    expect(pids.length, stdout).toBe(3 + 4);
    expect(await survivors([orchestrator!, ...pids], 20_000), 'processes still running').toEqual([]);
    // Killed outright, it could not delete its servers' temp dirs: the test does.
    for (const pid of pids.slice(0, 3)) removeServerDir(pid);
  }, 150_000);

  it('a nats-server started through the tether dies with its parent, even one killed -9', async () => {
    const binary = tetheredNatsServer();
    expect(binary, 'needs util-linux setpriv with --pdeathsig').toBeDefined();
    // A parent that starts one server (no gateway, nothing makes it log or exit) and kills itself.
    const parent = spawn(
      process.execPath,
      [
        ...['--import', 'tsx', '--conditions=@geoml/source', '--input-type=module', '-e'],
        `import { startNatsServer } from '@geoml/transport';
         const server = await startNatsServer({ binary: process.argv[1] });
         process.stdout.write('server pid ' + server.pid + '\\n', () => process.kill(process.pid, 'SIGKILL'));`,
        binary!,
      ],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    parent.stdout.on('data', (d: Buffer) => {
      out += d;
    });
    parent.stderr.on('data', (d: Buffer) => {
      out += d;
    });
    const signal = await new Promise((resolve) => parent.on('close', (_, s) => resolve(s)));
    expect(signal, out).toBe('SIGKILL');
    const server = Number(/server pid (\d+)/.exec(out)?.[1]);
    expect(server, out).toBeGreaterThan(0);
    expect(await survivors([server], 10_000), 'nats-server still running').toEqual([]);
    removeServerDir(server);
  }, 60_000);
});
