/**
 * Networking: UDP sockets, an HTTP server on Node's parser; TCP streams and
 * servers, TLS and server-sent events as they land.
 * @module
 */

export { EventSource, type EventSourceOptions, type EventSourceStats, type SentEvent } from "./event-source.ts";
export { HttpError, HttpRequest } from "./http-request.ts";
export { HttpResponse } from "./http-response.ts";
export { type HttpHandler, type HttpLimits, HttpServer, type ServeHttpOptions, serveHttp } from "./http-server.ts";
export { type Datagram, type DatagramAddress, DatagramSocket, type OpenDatagramOptions, openDatagram } from "./udp.ts";
