/**
 * Accept errors of a listening server, reported with back-off: Node emits
 * them on the server and keeps listening, and under load (out of memory or
 * buffers) they can come once per connection attempt, so reporting each
 * would flood `onError`. Out of descriptors (`EMFILE`, `ENFILE`), libuv on
 * Unix accepts and closes the waiting connections on a spare descriptor and
 * Node emits nothing (only when it has no spare does `EMFILE` arrive here).
 * @module
 */
import type { Loop } from "../core/loop.ts";

// The first error is reported at once, later ones at most once per window, which doubles up to MAX.
const MIN_BACKOFF = 10;
const MAX_BACKOFF = 1000;

/** Counts a server's accept errors and reports them, with back-off, through `report`. */
export class AcceptErrors {
  readonly #loop: Loop;
  readonly #report: (detail: string, cause: NodeJS.ErrnoException) => void;
  #quietUntil = Number.NEGATIVE_INFINITY;
  #backoff = 0;
  #unreported = 0;
  #last: NodeJS.ErrnoException | null = null;

  constructor(loop: Loop, report: (detail: string, cause: NodeJS.ErrnoException) => void) {
    this.#loop = loop;
    this.#report = report;
  }

  /**
   * The server's 'error' listener: reports the error, unless one was
   * reported within the back-off window, which doubles while errors keep
   * coming and starts over once they are sparse.
   */
  readonly onError = (error: NodeJS.ErrnoException): void => {
    const now = this.#loop.now();
    if (now < this.#quietUntil) {
      this.#unreported++;
      this.#last = error;
      return;
    }
    if (now >= this.#quietUntil + this.#backoff) this.#backoff = 0;
    const more = this.#unreported > 0 ? ` (and ${this.#unreported} more since the last report)` : "";
    this.#unreported = 0;
    this.#report(`${error.message}${more}`, error);
    this.#backoff = Math.min(Math.max(this.#backoff * 2, MIN_BACKOFF), MAX_BACKOFF);
    this.#quietUntil = now + this.#backoff;
  };

  /** Reports the errors the back-off held back (when the server closes). */
  flush(): void {
    if (this.#unreported === 0) return;
    const last = this.#last as NodeJS.ErrnoException;
    this.#report(`${this.#unreported} more accept errors were not reported (the last: ${last.message})`, last);
    this.#unreported = 0;
  }
}
