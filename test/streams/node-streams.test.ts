import assert from "node:assert/strict";
import { PassThrough, Readable, Writable } from "node:stream";
import { finished } from "node:stream/promises";
import { describe, it } from "node:test";
import { BrokenResourceError, ClosedResourceError, readerFromNodeStream, spawn, writerToNodeStream } from "../../src/index.ts";
import { runVirtual, waitAllTasksBlocked } from "../../src/testing/index.ts";
import { checkLeaks, rejectsOp } from "../_helpers.ts";

checkLeaks();

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const text = (data: Uint8Array): string => new TextDecoder().decode(data);

describe("readerFromNodeStream", () => {
  it("reads a Readable's bytes and strings to EOF", async () => {
    await runVirtual(function* () {
      const reader = readerFromNodeStream(Readable.from([Buffer.from("one\n"), "two\n"], { objectMode: false }));
      assert.equal(text(yield* reader.readLine()), "one\n");
      assert.equal(text(yield* reader.read()), "two\n");
      assert.equal((yield* reader.read()).length, 0);
      assert.equal(reader.atEof, true);
    });
  });

  it("pauses the stream while the reader is full, and resumes it as it is read (backpressure)", async () => {
    await runVirtual(function* () {
      const stream = new PassThrough();
      const reader = readerFromNodeStream(stream, { limit: 16 });
      stream.write(Buffer.alloc(40, 97));
      yield* reader.readExactly(1); // lets the data arrive
      assert.equal(stream.isPaused(), true, "over 2 * limit buffered: paused");
      yield* reader.readExactly(30);
      assert.equal(stream.isPaused(), false, "read below the limit: resumed");
      stream.end();
      assert.equal((yield* reader.read()).length, 9);
      assert.equal((yield* reader.read()).length, 0);
    });
  });

  it("a stream its owner paused is read all the same (a 'data' listener alone would not start it)", async () => {
    await runVirtual(function* () {
      const stream = new PassThrough();
      stream.pause();
      stream.end("paused before it was handed over");
      const reader = readerFromNodeStream(stream);
      assert.equal(stream.isPaused(), false, "the reader resumed it");
      assert.equal(text(yield* reader.read()), "paused before it was handed over");
      assert.equal(reader.atEof, true);
    });
  });

  it("a stream error, or a destroy before the end, is a BrokenResourceError on the next read", async () => {
    await runVirtual(function* () {
      const failing = new PassThrough();
      const reader = readerFromNodeStream(failing);
      yield* spawn(function* () {
        yield* waitAllTasksBlocked(); // the reader waits
        failing.destroy(new Error("disk on fire"));
      });
      const error = yield* rejectsOp(reader.read(), BrokenResourceError);
      assert.equal((error.cause as Error).message, "disk on fire");

      const destroyed = new PassThrough();
      const second = readerFromNodeStream(destroyed);
      destroyed.destroy();
      yield* rejectsOp(second.read(), BrokenResourceError);
      assert.equal(destroyed.listenerCount("data"), 0, "listeners removed");
    });
  });

  it("a stream that has already ended, failed or been destroyed: EOF or BrokenResourceError at once, not a wait for an event that has passed", async () => {
    const ended = Readable.from([Buffer.from("taken by someone else")]);
    ended.resume();
    await finished(ended);
    const failed = new PassThrough();
    failed.on("error", () => undefined);
    failed.destroy(new Error("disk on fire"));
    const destroyed = new PassThrough();
    destroyed.destroy();
    await Promise.all([finished(failed).catch(() => undefined), finished(destroyed).catch(() => undefined)]);

    const atEnd = readerFromNodeStream(ended);
    assert.equal(atEnd.atEof, true);
    const afterFailure = readerFromNodeStream(failed);
    assert.ok(afterFailure.exception instanceof BrokenResourceError);
    assert.equal((afterFailure.exception.cause as Error).message, "disk on fire");
    const afterDestroy = readerFromNodeStream(destroyed);
    assert.ok(afterDestroy.exception instanceof BrokenResourceError);
    await runVirtual(function* () {
      assert.equal((yield* atEnd.read()).length, 0);
      yield* rejectsOp(afterFailure.read(), BrokenResourceError);
      yield* rejectsOp(afterDestroy.readLine(), BrokenResourceError);
    });
  });

  it("once the end has come, a later error on the stream (a Duplex's other side) does not end the process: a no-op 'error' listener stays (review)", async () => {
    const duplex = new PassThrough();
    await runVirtual(function* () {
      const reader = readerFromNodeStream(duplex);
      duplex.end("bye");
      assert.equal(new TextDecoder().decode(yield* reader.read()), "bye");
      assert.equal((yield* reader.read()).length, 0);
    });
    // With no 'error' listener left, emit() throws the error (and a destroy with one ends the process).
    assert.equal(duplex.listenerCount("error"), 1);
    assert.doesNotThrow(() => duplex.emit("error", new Error("the other side failed later")));
  });

  it("rejects what is not a Readable", () => {
    assert.throws(() => readerFromNodeStream({} as never), { name: "TypeError", message: /expected a Readable/ });
  });
});

describe("writerToNodeStream", () => {
  it("a stream whose own flush fails at the close (its final()): waitClosed() throws, the bytes may be lost", async () => {
    const stream = new Writable({
      write(_chunk, _encoding, done) {
        done();
      },
      final(done) {
        done(new Error("flush failed (ENOSPC)"));
      },
    });
    await runVirtual(function* () {
      const writer = writerToNodeStream(stream);
      writer.write("important data");
      writer.close();
      const error = yield* rejectsOp(writer.waitClosed(), BrokenResourceError);
      assert.equal((error.cause as Error).message, "flush failed (ENOSPC)");
    });
  });

  it("drain() waits while the Writable is over its highWaterMark, until its drain event", async () => {
    await runVirtual(function* () {
      const written: string[] = [];
      const callbacks: (() => void)[] = [];
      const sink = new Writable({
        highWaterMark: 4,
        write(chunk, _encoding, done) {
          written.push(String(chunk));
          callbacks.push(done);
        },
      });
      const writer = writerToNodeStream(sink);
      writer.write("12345678");
      assert.equal(writer.bufferSize, 8);
      const draining = yield* spawn(() => writer.drain());
      yield* waitAllTasksBlocked();
      assert.equal(draining.done, false, "a slow sink holds the writer back");
      callbacks.shift()?.();
      yield* draining;
      writer.write("9");
      writer.close();
      const closing = yield* spawn(() => writer.waitClosed());
      yield* waitAllTasksBlocked();
      callbacks.shift()?.();
      yield* closing;
      assert.deepEqual(written, ["12345678", "9"]);
      assert.equal(sink.writableFinished, true);
    });
  });

  it("a stream error breaks the writer", async () => {
    await runVirtual(function* () {
      const sink = new Writable({
        write(_chunk, _encoding, done) {
          done(new Error("EPIPE-ish"));
        },
      });
      const writer = writerToNodeStream(sink);
      writer.write("x");
      yield* rejectsOp(writer.waitClosed(), BrokenResourceError); // "x" was lost
      yield* rejectsOp(writer.drain(), BrokenResourceError);
      assert.throws(() => writer.write("y"), BrokenResourceError);
    });
  });

  it("a write that fails, then close(): waitClosed() says the bytes were lost, whether the write failed at once or later", async () => {
    for (const failsAtOnce of [true, false]) {
      await runVirtual(function* () {
        const sink = new Writable({
          write(_chunk, _encoding, done) {
            if (failsAtOnce) done(new Error("disk full"));
            else queueMicrotask(() => done(new Error("disk full")));
          },
        });
        const writer = writerToNodeStream(sink);
        writer.write("important");
        writer.close(); // a stream that failed at once ignores this end(): it never counts as ended
        const error = yield* rejectsOp(writer.waitClosed(), BrokenResourceError);
        assert.equal((error.cause as Error).message, "disk full", `fails at once: ${failsAtOnce}`);
      });
    }
  });

  it("a destroy without an error before 'finish' breaks the writer: waitClosed() throws if bytes written or the close had not gone out", async () => {
    const slowSink = (): Writable =>
      new Writable({
        highWaterMark: 4,
        write(_chunk, _encoding, _done) {}, // never done: the bytes stay queued
      });
    await runVirtual(function* () {
      const closing = slowSink();
      const writer = writerToNodeStream(closing);
      writer.write("one,");
      writer.write("two,");
      writer.close();
      yield* spawn(function* () {
        yield* waitAllTasksBlocked();
        closing.destroy(); // a pipeline's teardown, a timeout...
      });
      const error = yield* rejectsOp(writer.waitClosed(), BrokenResourceError);
      assert.match(error.message, /destroyed before it finished/);

      const writing = slowSink();
      const second = writerToNodeStream(writing);
      second.write("lost bytes"); // over the highWaterMark: drain() waits
      const draining = yield* spawn(() => rejectsOp(second.drain(), BrokenResourceError));
      yield* waitAllTasksBlocked();
      writing.destroy();
      yield* draining;
      assert.throws(() => second.write("more"), BrokenResourceError);
    });
  });

  it("abort() destroys the stream", async () => {
    await runVirtual(function* () {
      const sink = new PassThrough();
      const writer = writerToNodeStream(sink);
      writer.abort();
      assert.equal(sink.destroyed, true);
      yield* writer.waitClosed();
      sink.resume();
    });
  });

  it("a stream already finished, failed or destroyed: writes throw at once, and waitClosed() returns", async () => {
    const sink = (): Writable =>
      new Writable({
        write(_chunk, _encoding, done) {
          done();
        },
      });
    const done = sink();
    done.end();
    const failed = sink();
    failed.on("error", () => undefined);
    failed.destroy(new Error("disk on fire"));
    const destroyed = sink();
    destroyed.destroy();
    await Promise.all([finished(done), finished(failed).catch(() => undefined), finished(destroyed).catch(() => undefined)]);

    await runVirtual(function* () {
      const afterFinish = writerToNodeStream(done);
      assert.throws(() => afterFinish.write("x"), ClosedResourceError);
      yield* afterFinish.drain();
      yield* afterFinish.waitClosed();

      const afterFailure = writerToNodeStream(failed);
      assert.throws(
        () => afterFailure.write("x"),
        (error) => error instanceof BrokenResourceError && (error.cause as Error).message === "disk on fire",
      );
      yield* afterFailure.waitClosed();

      const afterDestroy = writerToNodeStream(destroyed);
      assert.throws(() => afterDestroy.write("x"), BrokenResourceError);
      yield* rejectsOp(afterDestroy.drain(), BrokenResourceError);
      yield* afterDestroy.waitClosed();
    });
  });

  it("a stream ended by someone else and not finished yet: writes throw ClosedResourceError, waitClosed() waits for its finish", async () => {
    const callbacks: (() => void)[] = [];
    const stream = new Writable({
      write(_chunk, _encoding, done) {
        callbacks.push(done);
      },
    });
    stream.write("theirs");
    stream.end();
    await runVirtual(function* () {
      const writer = writerToNodeStream(stream);
      assert.throws(() => writer.write("x"), ClosedResourceError);
      const closing = yield* spawn(() => writer.waitClosed());
      yield* waitAllTasksBlocked();
      assert.equal(closing.done, false, "the stream has not finished");
      callbacks.shift()?.();
      yield* closing;
      assert.equal(stream.writableFinished, true);
    });
  });

  it("once closed, a later error on the stream does not end the process: a no-op 'error' listener stays (review)", async () => {
    const duplex = new PassThrough();
    duplex.resume();
    await runVirtual(function* () {
      const writer = writerToNodeStream(duplex);
      writer.write("bye");
      writer.close();
      yield* writer.waitClosed();
    });
    assert.equal(duplex.listenerCount("error"), 1);
    assert.doesNotThrow(() => duplex.emit("error", new Error("the other side failed later")));
  });

  it("rejects what is not a Writable", () => {
    assert.throws(() => writerToNodeStream({} as never), { name: "TypeError", message: /expected a Writable/ });
  });
});

describe("Node streams from corio streams (through Web streams)", () => {
  it("Readable.fromWeb(toWebReadableStream(reader)) is a Node Readable of the reader's bytes", async () => {
    const { StreamReader, toWebReadableStream } = await import("../../src/index.ts");
    const reader = new StreamReader();
    reader.feed(bytes("from corio "));
    reader.feed(bytes("to node"));
    reader.feedEof();
    const chunks: Buffer[] = [];
    for await (const chunk of Readable.fromWeb(toWebReadableStream(reader) as never)) chunks.push(chunk as Buffer);
    assert.equal(Buffer.concat(chunks).toString(), "from corio to node");
  });
});
