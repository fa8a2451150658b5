// An actor reading stdin through StdInFileDescriptor; run by stdin.test.ts with its stdin on a pipe.
//   lines  (default) print each line as `got: <line>` on each wake-up, and `eof` at the end
//   close  print the first line, then close() the descriptor with stdin still open (the process must exit by itself)
import { StdInFileDescriptor } from "../../../src/compat/calvin/index.ts";
import { Event, run } from "../../../src/index.ts";

const mode = process.argv[2] ?? "lines";

await run(function* () {
  const wakeup = new Event();
  let triggers = 0;
  const input = new StdInFileDescriptor("stdin-actor", (actor: string) => {
    if (actor !== "stdin-actor") throw new Error(`wrong actor ${actor}`);
    triggers++;
    wakeup.set();
  });
  for (;;) {
    yield* wakeup.wait();
    wakeup.clear();
    for (let line = input.readLine(); line !== undefined; line = input.readLine()) {
      process.stdout.write(`got: ${line}\n`);
      if (mode === "close") {
        input.close();
        process.stdout.write("closed\n");
        return;
      }
    }
    if (input.endOfFile()) break;
  }
  input.close();
  process.stdout.write(`eof ${triggers > 0}\n`);
});
