/**
 * A progress report for a known amount of work. On a terminal it redraws one
 * line (a bar, counts, events/s, ETA) at most ten times a second; anywhere
 * else (a log, a pipe, CI) it prints a plain line at each tenth of the work,
 * with no carriage returns or colours.
 */
export interface Progress {
  update(done: number): void;
  /** Ends the display: the terminal line is finished so what follows starts on a new one. */
  finish(): void;
}

const BAR_WIDTH = 24;

export function formatSeconds(seconds: number): string {
  if (!Number.isFinite(seconds)) return "?";
  if (seconds < 60) return `${Math.ceil(seconds)}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${String(Math.ceil(seconds % 60)).padStart(2, "0")}s`;
  return `${Math.floor(seconds / 3600)}h${String(Math.floor((seconds % 3600) / 60)).padStart(2, "0")}m`;
}

const number = new Intl.NumberFormat("en-US");

export function createProgress(
  label: string,
  total: number,
  stream: NodeJS.WriteStream = process.stderr,
  now: () => number = () => performance.now(),
): Progress {
  const started = now();
  const tty = Boolean(stream.isTTY);
  let lastDraw = 0;
  let lastStep = 0;
  let done = 0;

  function describe(): string {
    const seconds = (now() - started) / 1000;
    const rate = seconds > 0 ? done / seconds : 0;
    const eta = rate > 0 ? formatSeconds((total - done) / rate) : "?";
    const percent = total > 0 ? Math.floor((done / total) * 100) : 100;
    return `${number.format(done)}/${number.format(total)} (${percent}%), ${number.format(Math.round(rate))} events/s, ETA ${eta}`;
  }

  return {
    update(value) {
      done = value;
      if (tty) {
        const at = now();
        if (at - lastDraw < 100 && done < total) return;
        lastDraw = at;
        const filled = total > 0 ? Math.round((done / total) * BAR_WIDTH) : BAR_WIDTH;
        stream.write(`\r\x1b[2K${label} [${"#".repeat(filled)}${".".repeat(BAR_WIDTH - filled)}] ${describe()}`);
        return;
      }
      const step = total > 0 ? Math.floor((done / total) * 10) : 10;
      if (step > lastStep) {
        lastStep = step;
        stream.write(`${label}: ${describe()}\n`);
      }
    },
    finish() {
      if (tty && lastDraw > 0) stream.write("\n");
    },
  };
}
