/**
 * What every child process of the cluster demo shares: prefixed progress lines, one machine-readable
 * result line, and a stop signal that fires on SIGINT/SIGTERM or when the orchestrator goes away (its
 * IPC channel closes), so no child outlives the run even if the orchestrator is killed.
 */

/** Prefix of the one line a child prints with its result, as JSON. */
export const RESULT_PREFIX = '@result ';

/** Prints a progress line (the orchestrator prefixes it with the child's name). */
export function log(message: string): void {
  process.stdout.write(`${message}\n`);
}

/** Prints the child's result for the orchestrator to parse. */
export function report(result: unknown): void {
  process.stdout.write(`${RESULT_PREFIX}${JSON.stringify(result)}\n`);
}

/** Aborts on SIGINT, SIGTERM or a lost orchestrator; a second signal exits at once. */
export function stopSignal(): AbortSignal {
  const stop = new AbortController();
  const abort = (why: string) => {
    if (stop.signal.aborted) process.exit(130);
    log(`stopping (${why})`);
    // a client library failing while its connection is torn down must not print a stack trace over the summary
    process.on('uncaughtException', (e) => {
      log(`error while stopping: ${e.message}`);
      process.exit(1);
    });
    stop.abort(new Error(why));
  };
  process.on('SIGINT', () => abort('SIGINT'));
  process.on('SIGTERM', () => abort('SIGTERM'));
  if (process.channel) {
    process.on('disconnect', () => abort('orchestrator gone'));
    // the channel must not keep the process alive once its work is done
    process.channel.unref();
  }
  return stop.signal;
}

/** Resolves when `signal` aborts. */
export function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
}

/** Reads `--name value` from argv. */
export function arg(name: string): string {
  const i = process.argv.indexOf(`--${name}`);
  const value = i >= 0 ? process.argv[i + 1] : undefined;
  if (value === undefined) throw new Error(`missing --${name}`);
  return value;
}
