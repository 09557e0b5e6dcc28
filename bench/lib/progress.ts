/**
 * A one-line progress indicator on stderr (rewritten in place on a terminal, one line per step when piped),
 * so a long benchmark shows it is alive without cluttering its summary on stdout.
 */
export class Progress {
  private readonly started = performance.now();
  private done = 0;

  constructor(
    private readonly label: string,
    private readonly total: number,
  ) {}

  /** Marks one more step done, with an optional note of what just finished. */
  tick(note = ''): void {
    this.done++;
    const seconds = ((performance.now() - this.started) / 1000).toFixed(1);
    const line = `${this.label} ${this.done}/${this.total} ${seconds}s ${note}`;
    if (process.stderr.isTTY) process.stderr.write(`\r\x1b[2K${line}`);
    else process.stderr.write(`${line}\n`);
  }

  /** Ends the line (on a terminal) so later output starts on a fresh one. */
  end(): void {
    if (process.stderr.isTTY) process.stderr.write('\n');
  }
}
