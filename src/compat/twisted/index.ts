/**
 * The Twisted porting layer: `reactor`, `Deferred` (with `DeferredList`,
 * `gatherResults`, `maybeDeferred`, `addTimeout`, `inlineCallbacks`), `Failure`,
 * `LoopingCall`, `deferLater`, and protocols, factories and transports
 * over corio's TCP and UDP (`listenTCP`, `connectTCP`, `listenUDP`, `Protocol`,
 * `LineReceiver`, `DatagramProtocol`). A thin layer over native corio, so
 * that code written against Twisted runs with mechanical changes;
 * `docs/porting-from-twisted.md` shows how to move on to native operations.
 * @module corio/compat/twisted
 */
export { type Address, IPv4Address, IPv6Address } from "./address.ts";
export { deferLater } from "./defer-later.ts";
export {
  AlreadyCalledError,
  CancelledError,
  Deferred,
  type DeferredCallback,
  DeferredTimeoutError,
  ensureDeferred,
  fail,
  maybeDeferred,
  succeed,
} from "./deferred.ts";
export { DeferredList, type DeferredListOptions, type DeferredListResult, FirstError, gatherResults } from "./deferred-list.ts";
export {
  CannotListenError,
  ConnectError,
  ConnectionAborted,
  ConnectionClosed,
  ConnectionDone,
  ConnectionLost,
  ConnectionRefusedError,
  DNSLookupError,
  NotConnectingError,
  TimeoutError,
  UserError,
} from "./errors.ts";
export { type ErrorClass, Failure } from "./failure.ts";
export { inlineCallbacks } from "./inline-callbacks.ts";
export type { IConnector, IListeningPort, IReactorTime, ITransport, IUDPTransport } from "./interfaces.ts";
export { LineReceiver } from "./line-receiver.ts";
export { LoopingCall } from "./looping-call.ts";
export { ClientFactory, Factory, Protocol, type ProtocolClass, ServerFactory } from "./protocol.ts";
export {
  AlreadyCalled,
  AlreadyCancelled,
  createReactor,
  IDelayedCall,
  Reactor,
  ReactorNotRestartable,
  ReactorNotRunning,
  type ReactorOptions,
  reactor,
} from "./reactor.ts";
export type { ConnectTCPOptions, ListenTCPOptions } from "./tcp.ts";
export { deferToThread } from "./threads.ts";
export { DatagramProtocol, type ListenUDPOptions } from "./udp.ts";
