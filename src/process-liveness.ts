// Whether a process on this machine still runs: the journal, the store lock and staging use it to tell
// a crashed owner from a live one.

/** True when `pid` is alive (EPERM: alive, owned by someone else). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
