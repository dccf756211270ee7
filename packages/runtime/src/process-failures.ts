import type { Logger } from "pino";

export interface ProcessFailureOptions {
  /** Called instead of process.exit (tests); the process must still stop. */
  exit?: (code: number) => void;
}

/**
 * What happens to an error that nothing caught, in both apps. Node's default
 * prints a stack to stderr and exits; a supervisor then restarts the process
 * without the log ever saying why. Here:
 *
 * - An unhandled rejection is logged and the process goes on. The promise's
 *   work has already ended and nothing waits for its result, so nothing else
 *   in the process is left half done (a query whose connection was lost, a
 *   Redis command after a disconnect). Each one is a bug to fix where the
 *   promise was made, so it is logged as an error with its stack.
 * - An uncaught exception unwound a stack at an unknown point, perhaps inside
 *   a library's event handler with its state half updated (a connection pool,
 *   a BullMQ worker). Nothing can tell whether the process still works, so it
 *   is logged as fatal and the process exits 1: a supervisor restarts it, and
 *   whatever it had in flight is still unfinished in PostgreSQL for another
 *   worker (or this one, restarted) to take.
 */
export function handleProcessFailures(logger: Logger, options: ProcessFailureOptions = {}): void {
  const exit = options.exit ?? ((code: number) => process.exit(code));
  process.on("unhandledRejection", (reason) => {
    logger.error({ err: reason }, "unhandled promise rejection; the process goes on");
  });
  process.on("uncaughtException", (error, origin) => {
    // pino's default destination writes synchronously, so this line is out before the exit.
    logger.fatal({ err: error, origin }, "uncaught exception; exiting so that a supervisor restarts the process");
    exit(1);
  });
}
