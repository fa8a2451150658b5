/**
 * Networking: TCP, TLS and Unix-socket streams and servers (with the Calvin
 * seed's line and raw framings), UDP sockets, an HTTP server on Node's
 * parser, server-sent events, and an HTTP client (`fetch`).
 * @module corio/net
 */
export { EventSource, type EventSourceOptions, type EventSourceStats, type SentEvent } from "./event-source.ts";
export { type FetchOptions, type FetchResponse, fetch } from "./fetch.ts";
export { type Framing, type MessageReader, readMessages } from "./framing.ts";
export { HttpError, HttpRequest } from "./http-request.ts";
export { HttpResponse } from "./http-response.ts";
export { type HttpHandler, type HttpLimits, HttpServer, type ServeHttpOptions, serveHttp } from "./http-server.ts";
export { loadNodeCredentials, type NodeCredentials, nodeCertificateResolver } from "./node-certificates.ts";
export { type ConnectionHandler, type Endpoint, type OpenConnectionOptions, openConnection, Server, type StartServerOptions, startServer } from "./tcp.ts";
export { type Datagram, type DatagramAddress, DatagramSocket, type OpenDatagramOptions, openDatagram } from "./udp.ts";
