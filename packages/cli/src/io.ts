/** Where a command writes: results to `out`, progress and diagnostics to `err` (so `out` pipes cleanly). */
export interface Io {
  out(text: string): void;
  err(text: string): void;
}

export const processIo: Io = {
  out: (text) => void process.stdout.write(text),
  err: (text) => void process.stderr.write(text),
};
