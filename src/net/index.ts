/**
 * Networking: UDP sockets now; TCP streams and servers, TLS, HTTP and
 * server-sent events as they land.
 * @module
 */
export { type Datagram, type DatagramAddress, DatagramSocket, type OpenDatagramOptions, openDatagram } from "./udp.ts";
