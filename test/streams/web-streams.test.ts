import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { describe, it } from "node:test";
import {
  BrokenResourceError,
  createMemoryStreamPair,
  readerFromWebStream,
  StreamReader,
  spawn,
  toWebReadableStream,
  toWebWritableStream,
  writerToNodeStream,
  writerToWebStream,
} from "../../src/index.ts";
import { runVirtual, waitAllTasksBlocked } from "../../src/testing/index.ts";
import { checkLeaks, promiseWithResolvers, rejectsOp, turnsUntil } from "../_helpers.ts";

checkLeaks();

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const text = (data: Uint8Array): string => new TextDecoder().decode(data);
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe("readerFromWebStream", () => {
  it("reads a ReadableStream to EOF and releases its lock", async () => {
    await runVirtual(function* () {
      const stream = new Response("alpha\nbeta").body as ReadableStream<Uint8Array>;
      const reader = readerFromWebStream(stream);
      assert.equal(text(yield* reader.readLine()), "alpha\n");
      assert.equal(text(yield* reader.read()), "beta");
      assert.equal((yield* reader.read()).length, 0);
      assert.equal(stream.locked, false);
    });
  });

  it("stops pulling while the reader is full (backpressure), and pulls again as it is read", async () => {
    let pulls = 0;
    const stream = new ReadableStream<Uint8Array>(
      {
        pull(controller) {
          pulls++;
          controller.enqueue(new Uint8Array(10));
        },
      },
      { highWaterMark: 0 },
    );
    const controller = new AbortController();
    const reader = readerFromWebStream(stream, { limit: 8, signal: controller.signal });
    for (let i = 0; i < 10; i++) await turn();
    const before = pulls;
    assert.ok(before <= 4, `pulled ${before} chunks for a reader limited to 16 bytes`);
    assert.ok(reader.buffered > 16);
    for (let i = 0; i < 10; i++) await turn();
    assert.equal(pulls, before, "no more pulls while nobody reads");
    await runVirtual(function* () {
      yield* reader.readExactly(25);
    });
    for (let i = 0; i < 10; i++) await turn();
    assert.ok(pulls > before, "reading resumed the pulls");
    controller.abort("done");
  });

  it("aborting the signal cancels the stream with its reason; reads then throw BrokenResourceError", async () => {
    const cancelled = promiseWithResolvers<unknown>();
    const stream = new ReadableStream<Uint8Array>({ cancel: (reason) => cancelled.resolve(reason) });
    const controller = new AbortController();
    const reader = readerFromWebStream(stream, { signal: controller.signal });
    await runVirtual(function* () {
      yield* spawn(function* () {
        yield* waitAllTasksBlocked();
        controller.abort("enough");
      });
      yield* rejectsOp(reader.read(), BrokenResourceError);
    });
    assert.equal(await cancelled.promise, "enough");
  });

  it("a stream error is a BrokenResourceError with the error as cause", async () => {
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.error(new Error("upstream failed"));
      },
    });
    await runVirtual(function* () {
      const error = yield* rejectsOp(readerFromWebStream(stream).read(), BrokenResourceError);
      assert.equal((error.cause as Error).message, "upstream failed");
    });
  });

  it("a bad limit is refused before the stream is locked", () => {
    const stream = new Response("kept").body as ReadableStream<Uint8Array>;
    assert.throws(() => readerFromWebStream(stream, { limit: 0 }), {
      name: "RangeError",
      message: "Cannot create a StreamReader: limit must be a positive integer, received 0",
    });
    assert.equal(stream.locked, false);
  });

  it("rejects what is not a ReadableStream", () => {
    assert.throws(() => readerFromWebStream({} as never), { name: "TypeError", message: /expected a ReadableStream/ });
  });
});

describe("writerToWebStream", () => {
  it("drain() waits while the sink has not accepted more than highWaterMark bytes", async () => {
    const accepted: string[] = [];
    const pending: (() => void)[] = [];
    const stream = new WritableStream<Uint8Array>({
      write(chunk) {
        accepted.push(text(chunk));
        return new Promise<void>((resolve) => pending.push(resolve));
      },
    });
    await runVirtual(function* () {
      const writer = writerToWebStream(stream, { highWaterMark: 4 });
      writer.write("123456");
      const draining = yield* spawn(() => writer.drain());
      yield* waitAllTasksBlocked();
      assert.equal(draining.done, false);
      pending.shift()?.();
      yield* draining;
      writer.write("7");
      writer.close();
      yield* spawn(function* () {
        yield* waitAllTasksBlocked();
        pending.shift()?.();
      });
      yield* writer.waitClosed();
    });
    assert.deepEqual(accepted, ["123456", "7"]);
  });

  it("a sink whose close() fails: waitClosed() throws, what it took may not have gone out", async () => {
    const stream = new WritableStream<Uint8Array>({
      write() {},
      close() {
        throw new Error("flush failed");
      },
    });
    await runVirtual(function* () {
      const writer = writerToWebStream(stream);
      writer.write("important data");
      writer.close();
      const error = yield* rejectsOp(writer.waitClosed(), BrokenResourceError);
      assert.equal((error.cause as Error).message, "flush failed");
    });
  });

  it("a failing sink breaks the writer; waitClosed() says the bytes it held were lost, unless a drain said so first", async () => {
    const stream = new WritableStream<Uint8Array>({
      write() {
        throw new Error("sink broke");
      },
    });
    await runVirtual(function* () {
      const writer = writerToWebStream(stream);
      writer.write("x");
      const lost = yield* rejectsOp(writer.waitClosed(), BrokenResourceError);
      assert.equal((lost.cause as Error).message, "sink broke");
      const error = yield* rejectsOp(writer.drain(), BrokenResourceError);
      assert.equal((error.cause as Error).message, "sink broke");
      // The drain told it: waitClosed() does not again.
      yield* writer.waitClosed();
    });
  });
});

describe("toWebReadableStream", () => {
  it("chunkSize: a positive integer, or Infinity (whatever is buffered); anything else is refused at once", async () => {
    for (const chunkSize of [0, 1.5, Number.NaN, -1]) {
      assert.throws(() => toWebReadableStream(new StreamReader(), { chunkSize }), { name: "RangeError", message: /chunkSize must be a positive integer/ });
    }
    const reader = new StreamReader();
    reader.feed(bytes("abc"));
    reader.feedEof();
    assert.equal(await new Response(toWebReadableStream(reader, { chunkSize: Number.POSITIVE_INFINITY })).text(), "abc");
  });

  it("gives the reader's bytes, reading only as the consumer pulls", async () => {
    const [a, b] = createMemoryStreamPair({ limit: 4, highWaterMark: 4 });
    const stream = toWebReadableStream(b.reader, { chunkSize: 3 });
    a.writer.write("abcdefghij");
    await turn();
    assert.equal(b.reader.buffered, 10, "nothing read ahead of the consumer");
    const streamReader = stream.getReader();
    const first = await streamReader.read();
    assert.equal(text(first.value as Uint8Array), "abc");
    assert.equal(b.reader.buffered, 7);
    a.writer.close();
    let rest = "";
    for (let r = await streamReader.read(); !r.done; r = await streamReader.read()) rest += text(r.value);
    assert.equal(rest, "defghij");
  });

  it("cancelling the stream cancels the read in flight, losing nothing", async () => {
    const reader = new StreamReader();
    const stream = toWebReadableStream(reader);
    const streamReader = stream.getReader();
    const read = streamReader.read();
    await turn();
    await streamReader.cancel("no more");
    assert.deepEqual(await read, { done: true, value: undefined });
    reader.feed(bytes("kept"));
    reader.feedEof();
    await runVirtual(function* () {
      assert.equal(text(yield* reader.read()), "kept");
    });
  });

  it("a cancel at any point after the bytes arrived loses nothing: they reach the consumer or stay in the reader", async () => {
    // The read's task finishes, then the pull resumes some microtasks later: cancelling in between once dropped the chunk.
    for (let k = 0; k <= 8; k++) {
      const reader = new StreamReader();
      const streamReader = toWebReadableStream(reader).getReader();
      const read = streamReader.read();
      await turn(); // the pull waits on the reader
      reader.feed(bytes("precious"));
      for (let i = 0; i < k; i++) await Promise.resolve();
      await streamReader.cancel("stop");
      const result = await read;
      reader.feedEof();
      const left = await runVirtual(function* () {
        return text(yield* reader.read());
      });
      assert.equal(`${result.done ? "" : text(result.value)}${left}`, "precious", `cancelled ${k} microtasks after the bytes arrived`);
    }
  });
});

describe("toWebWritableStream", () => {
  it("a producer may refill its buffer once a write resolved: a destination that keeps chunks by reference still sends what was written", async () => {
    // A Node Writable keeps a Uint8Array it is given by reference, as a socket does.
    const kept: Uint8Array[] = [];
    const sink = new Writable({
      highWaterMark: 1 << 20,
      write(chunk: Uint8Array, _encoding, done) {
        kept.push(chunk);
        done();
      },
    });
    const stream = toWebWritableStream(writerToNodeStream(sink)).getWriter();
    const buffer = new Uint8Array(4);
    // A Buffer too (what Writable.fromWeb passes): its slice() is a view, not a copy.
    const nodeBuffer = Buffer.alloc(4);
    for (let i = 0; i < 3; i++) {
      buffer.fill(i);
      await stream.write(buffer);
    }
    nodeBuffer.fill(3);
    await stream.write(nodeBuffer);
    nodeBuffer.fill(4);
    await stream.close();
    assert.deepEqual(
      kept.map((chunk) => [...chunk]),
      [
        [0, 0, 0, 0],
        [1, 1, 1, 1],
        [2, 2, 2, 2],
        [3, 3, 3, 3],
      ],
    );
  });

  it("abort() while a write waits for the drain (a peer that does not read) aborts the writer at once; that write rejects", async () => {
    const [a] = createMemoryStreamPair({ limit: 16, highWaterMark: 16 }); // nobody reads the other end
    const streamWriter = toWebWritableStream(a.writer).getWriter();
    await streamWriter.write(new Uint8Array(1000)); // fills the reader, which pauses the pipe
    const stuck = streamWriter.write(new Uint8Array(1000));
    stuck.catch(() => undefined);
    await turn();
    assert.equal(a.writer.bufferSize, 1000, "the second write waits in the pipe");
    const reason = new Error("give up");
    const aborted = streamWriter.abort(reason);
    assert.ok(await turnsUntil(() => a.writer.isClosing, 1000), "the writer was aborted");
    await aborted;
    assert.equal(a.writer.bufferSize, 0, "the queued bytes were dropped");
    await assert.rejects(stuck, (error) => error === reason);
  });

  it("writes wait for the writer's drain (backpressure), then go through; close closes the writer", async () => {
    const [a, b] = createMemoryStreamPair({ limit: 4, highWaterMark: 4 });
    const stream = toWebWritableStream(a.writer);
    const streamWriter = stream.getWriter();
    let written = 0;
    const writes: Promise<void>[] = [];
    for (const chunk of ["0123", "4567", "89ab", "cdef", "ghij", "klmn"]) {
      writes.push(
        streamWriter.write(bytes(chunk)).then(() => {
          written++;
        }),
      );
    }
    for (let i = 0; i < 5; i++) await turn();
    assert.ok(written < 6, `the reader is full: a write waits (${written} of 6 went through)`);
    const got = await runVirtual(function* () {
      return text(yield* b.reader.readExactly(24));
    });
    await Promise.all(writes);
    assert.equal(got, "0123456789abcdefghijklmn");
    await streamWriter.close();
    assert.equal(a.writer.isClosing, true);
  });
});
