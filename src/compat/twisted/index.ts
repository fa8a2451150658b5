/**
 * The Twisted porting layer: `reactor`, `Deferred`, `Failure`,
 * `LoopingCall`, and (with `corio/net`) protocols, factories and transports.
 * A thin layer over native corio, so that code written against Twisted runs
 * with mechanical changes; `docs/porting-from-twisted.md` shows how to move
 * on to native operations.
 * @module
 */
export { AlreadyCalledError, Deferred, fail, succeed } from "./deferred.ts";
export { type ErrorClass, Failure } from "./failure.ts";
export { LoopingCall } from "./looping-call.ts";
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
