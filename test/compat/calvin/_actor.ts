// A stand-in for the Calvin scheduler in tests: the trigger records who asked
// to be scheduled and wakes the actor loop, which then polls and pulls.
import { Event, type Operation, timeout } from "../../../src/index.ts";

export class TestActor {
  /** What each trigger call was given, in order. */
  readonly triggers: unknown[] = [];
  readonly #wakeup = new Event();
  /** The trigger to hand to a Calvin class. */
  readonly trigger = (actor: unknown): void => {
    this.triggers.push(actor);
    this.#wakeup.set();
  };

  /** Waits for the next trigger call (or one made since the last wait). */
  *wake(): Operation<void> {
    yield* this.#wakeup.wait();
    this.#wakeup.clear();
  }

  /** The actor loop: runs `step` now and after each trigger call, until it returns true (failing after `ms` real ms). */
  *until(step: () => boolean, ms = 5000): Operation<void> {
    const self = this;
    yield* timeout(ms, function* actorLoop() {
      while (!step()) yield* self.wake();
    });
  }
}

export const text = (bytes: Uint8Array | null): string => (bytes === null ? "<null>" : new TextDecoder().decode(bytes));

/** The error of the `index`-th report (collected with `collectReports`), which must exist. */
export function reported(reports: { error: unknown }[], index = 0): Error & { code?: string } {
  const report = reports[index];
  if (report === undefined) throw new Error(`expected at least ${index + 1} reported error(s), got ${reports.length}`);
  return report.error as Error & { code?: string };
}
