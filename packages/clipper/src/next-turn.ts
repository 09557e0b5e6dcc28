/**
 * Lets the event loop run once (queries waiting on I/O included) before the next step of a swap, so
 * the main-thread pieces of a swap (resolving, copying a model to its worker, swapping, disposing)
 * never run back to back while a query waits behind all of them.
 */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
