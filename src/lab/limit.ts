// Bounded parallelism for the lab's checks and probes. No I/O of its own.

/** Run `fn` over items with at most `limit` at a time (2 vCPUs: 40 parallel pings would measure the scheduler). */
export async function mapLimit<T, R>(items: T[], limit: number, fn: (x: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
