/**
 * `corio/compat/calvin`: the Calvin actor runtime's asynchronous module
 * (`calvin/runtime/south/asynchronous`) as a thin layer over native corio,
 * so that actor code written against it ports mechanically.
 *
 * Every class keeps the original's interaction model: an I/O event calls a
 * data-less `trigger(actor)` ("schedule me"), and the actor later polls
 * (`hasData()`, `dataAvailable`, `haveData()`) and pulls (`read()`,
 * `dataGet()`) with plain synchronous calls. Each object runs a corio task
 * of its own: it must be created inside a running corio task, which owns
 * it; it closes when that task finishes, or on `close()`/`stop()`.
 *
 * Names are the original's, in camelCase (`data_get` → `dataGet`).
 * `docs/porting-from-calvin.md` maps each one to this layer and to the
 * native corio API, and lists every difference from the original.
 * @module corio/compat/calvin
 */
export type { Address } from "./_address.ts";
export type { ClientCallbacks, OneOrMany } from "./_callbacks.ts";
export type { Trigger } from "./_trigger.ts";
export { DelayedCall } from "./delayed-call.ts";
export { EventSource, type EventSourceOptions } from "./event-source.ts";
export { GenericFileDescriptor, StdInFileDescriptor } from "./file-descriptor.ts";
export { type HTTPRequestCallback, HTTPServer, type HTTPServerOptions } from "./http-server.ts";
export { TCPClient, type TCPClientData, type TCPClientMode, type TCPClientOptions } from "./tcp-client.ts";
export { type HttpRequestData, ServerConnection, type ServerData, type ServerMode, TCPServer, type TCPServerOptions } from "./tcp-server.ts";
export { callFromThread, callInThread, deferToThread } from "./threads.ts";
export { UDPClient, type UDPClientOptions, type UDPMessage, UDPServer } from "./udp.ts";
