// What to undo when the process is stopped by SIGINT, SIGTERM or SIGHUP, like git's list of lock and temporary
// files: each registered cleanup runs once (a staging folder removed, a lock released), then the signal ends the
// process as it would have, unless another listener owns it (a Slurm task that checkpoints first ends it then).
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
const cleanups = new Set<() => void>();

function onSignal(signal: NodeJS.Signals): void {
  for (const s of SIGNALS) process.removeListener(s, onSignal);
  for (const c of [...cleanups].reverse()) c();
  cleanups.clear();
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

/** Runs `cleanup` if a signal stops the process before the returned function is called (which unregisters it). */
export function onStop(cleanup: () => void): () => void {
  if (cleanups.size === 0) for (const s of SIGNALS) process.on(s, onSignal);
  cleanups.add(cleanup);
  return () => {
    cleanups.delete(cleanup);
    if (cleanups.size === 0) for (const s of SIGNALS) process.removeListener(s, onSignal);
  };
}
