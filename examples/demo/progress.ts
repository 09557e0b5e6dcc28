/** A one-line progress bar on stderr (redrawn in place on a terminal, one line per 10 % otherwise). */
export function progressBar(label: string, total: number) {
  const tty = process.stderr.isTTY;
  let lastTenth = -1;
  return {
    update(done: number, detail = '') {
      const frac = Math.min(1, done / total);
      const bar = '#'.repeat(Math.round(20 * frac)).padEnd(20, '.');
      const text = `${label.padEnd(10)} [${bar}] ${String(done).padStart(4)}/${total}  ${detail}`;
      if (tty) process.stderr.write(`\r${text}`);
      else if (Math.floor(frac * 10) > lastTenth) {
        lastTenth = Math.floor(frac * 10);
        process.stderr.write(`${text}\n`);
      }
    },
    stop() {
      if (tty) process.stderr.write('\n');
    },
  };
}
