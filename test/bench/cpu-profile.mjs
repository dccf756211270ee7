// Preloaded into Herald's processes by `npm run bench -- --profile=<dir>`
// (Node 20 refuses --cpu-prof in NODE_OPTIONS, but allows --import): samples
// the CPU from start-up and writes a .cpuprofile, as --cpu-prof would, at exit.
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector";
import { join } from "node:path";

const dir = process.env.HERALD_BENCH_PROFILE_DIR;
if (dir) {
  const session = new Session();
  session.connect();
  session.post("Profiler.enable");
  session.post("Profiler.setSamplingInterval", { interval: 1000 });
  session.post("Profiler.start");
  process.on("exit", () => {
    // The in-thread inspector session answers synchronously, so this runs to the end inside the exit handler.
    session.post("Profiler.stop", (error, result) => {
      if (!error)
        writeFileSync(
          join(dir, `${process.argv[1]?.split("/").at(-3) ?? "node"}-${process.pid}.cpuprofile`),
          JSON.stringify(result.profile),
        );
    });
  });
}
