/**
 * A child process of the cluster demo, seen from the orchestrator: its output lines shown with a name
 * prefix, its `@result` line parsed, its exit awaited, and a bounded stop (SIGTERM, then SIGKILL after a
 * grace period). An IPC channel is open so the child notices when the orchestrator goes away.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { RESULT_PREFIX } from './role.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export class Child<R = unknown> {
  readonly process: ChildProcess;
  /** Resolves with the child's `@result` once it exits 0; rejects when it exits otherwise. */
  readonly result: Promise<R>;
  private readonly listeners = new Set<(line: string) => void>();
  /** Every progress line so far, so a wait can match a line printed before it began. */
  private readonly lines: string[] = [];
  private exited = false;

  constructor(
    readonly name: string,
    script: string,
    args: string[],
    print: (line: string) => void,
  ) {
    this.process = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        '--conditions=@geoml/source',
        fileURLToPath(new URL(script, import.meta.url)),
        ...args,
      ],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] },
    );
    let result: R | undefined;
    const tail: string[] = [];
    const onLine = (line: string, err: boolean) => {
      if (line.startsWith(RESULT_PREFIX)) {
        result = JSON.parse(line.slice(RESULT_PREFIX.length)) as R;
        return;
      }
      if (err && tail.push(line) > 20) tail.shift();
      print(`[${name}] ${line}`);
      if (!err) this.lines.push(line);
      for (const listener of this.listeners) listener(line);
    };
    createInterface({ input: this.process.stdout! }).on('line', (l) => onLine(l, false));
    const stderrLines = createInterface({ input: this.process.stderr! });
    stderrLines.on('line', (l) => onLine(l, true));
    this.result = new Promise<R>((resolve, reject) => {
      this.process.on('error', reject);
      // 'close' comes after stdio ends, so the result line has been read
      this.process.on('close', (code, signal) => {
        this.exited = true;
        if (code === 0 && result !== undefined) resolve(result);
        else
          reject(
            new Error(
              `${name} exited with ${signal ?? `code ${code}`}${code === 0 ? ' without a result' : ''}${tail.length ? `:\n  ${tail.join('\n  ')}` : ''}`,
            ),
          );
      });
    });
    this.result.catch(() => {}); // observed by whoever awaits it; never an unhandled rejection
  }

  get pid(): number | undefined {
    return this.process.pid;
  }

  /** Resolves with the first output line matching `pattern`; rejects on timeout or exit. */
  waitForLine(pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
    for (const line of this.lines) {
      const m = line.match(pattern);
      if (m) return Promise.resolve(m);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => done(new Error(`${this.name}: no line matching ${pattern} within ${timeoutMs} ms`)),
        timeoutMs,
      );
      const listener = (line: string) => {
        const m = line.match(pattern);
        if (m) done(undefined, m);
      };
      const done = (error?: Error, m?: RegExpMatchArray) => {
        clearTimeout(timer);
        this.listeners.delete(listener);
        if (error) reject(error);
        else resolve(m as RegExpMatchArray);
      };
      this.listeners.add(listener);
      this.result.then(
        () => done(new Error(`${this.name} exited before printing ${pattern}`)),
        (e: Error) => done(e),
      );
    });
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process has exited. */
  async stop(graceMs: number): Promise<void> {
    if (this.exited || this.process.exitCode !== null || this.process.signalCode !== null) return;
    const gone = new Promise<void>((resolve) => this.process.once('close', () => resolve()));
    this.process.kill('SIGTERM');
    const timer = setTimeout(() => this.process.kill('SIGKILL'), graceMs);
    await gone;
    clearTimeout(timer);
  }
}
