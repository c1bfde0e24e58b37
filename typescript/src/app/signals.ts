// What SIGTERM and SIGINT do to the running bot. The first stops it in order (app/startup.ts),
// within one overall deadline after which the process exits anyway. The same request delivered
// twice is one: a signal to the whole process group reaches the bot directly and again forwarded
// by npm, within a few milliseconds. A signal after that is someone insisting: exit at once.

import { constants } from "node:os";

/** A second signal this soon after the first is the same one, delivered twice. */
export const DUPLICATE_SIGNAL_MS = 1000;

export interface SignalOptions {
  /** Stops the bot in order; null while it is not up yet (nothing to flush: exit at once). */
  readonly stop: () => ((signal: string) => Promise<void>) | null;
  readonly exit: (code: number) => void;
  readonly log: (line: string) => void;
  /** The stop's own deadline plus a grace; past it the process exits 1 whatever is left. */
  readonly deadlineMs: number;
  readonly now?: () => number;
}

/** The shell's convention for a process ended by a signal: 128 + its number. */
export function signalExitCode(signal: string): number {
  const numbers: Readonly<Record<string, number>> = constants.signals;
  return 128 + (numbers[signal] ?? 0);
}

/** The handler for SIGTERM and SIGINT; `stopping()` says whether a stop was asked for. */
export function signalHandler(options: SignalOptions): { readonly onSignal: (signal: string) => void; readonly stopping: () => boolean } {
  const now = options.now ?? Date.now;
  let firstAt: number | null = null;
  const onSignal = (signal: string): void => {
    if (firstAt !== null) {
      if (now() - firstAt < DUPLICATE_SIGNAL_MS) return;
      options.log(`digits-bot: ${signal} again: exiting now, without finishing the shutdown`);
      options.exit(signalExitCode(signal));
      return;
    }
    firstAt = now();
    const stop = options.stop();
    if (stop === null) {
      options.exit(0);
      return;
    }
    setTimeout(() => {
      options.log(`digits-bot: the shutdown did not end within ${options.deadlineMs} ms; exiting`);
      options.exit(1);
    }, options.deadlineMs).unref();
    void stop(signal).then(() => {
      options.exit(0);
    });
  };
  return { onSignal, stopping: () => firstAt !== null };
}
