/**
 * Route and gateway ports are picked before the servers start, so another process may take one in
 * between; such a start, like a JetStream meta group split or a gateway that bypassed its proxy, is
 * retried afresh (a few times, then the error stands).
 */
export async function retryOnPortClash<T>(start: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (err) {
      const message = String((err as Error).message);
      if (attempt >= 3 || !/address already in use|meta group split|bypassed its proxy/i.test(message))
        throw err;
    }
  }
}
