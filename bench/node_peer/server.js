#!/usr/bin/env node
// node_peer: the benchmark's Node.js peer bridge.
//
// What a team would write in an afternoon instead of using sse-gateway: plain
// @grpc/grpc-js + @grpc/proto-loader + node:http, one gRPC client (one
// channel) to the backend, one SSE response per streaming call. It is kept
// idiomatic on purpose (neither tuned to win nor handicapped to lose) so the
// benchmark compares the gateway with what people really deploy.
//
//   GET /v1/firehose?rate=R&count=C&payload_bytes=P   (Last-Event-ID: N)
//     calls bench.v1.Firehose/Stream({rate, count, payload_bytes,
//     after_seq: N}) and writes each Event as the gateway does
//     (bench/gateway.yaml):
//       id: <seq>
//       event: tick
//       data: {"seq":"1","sentUnixNanos":"...","payload":"xx"}
//       retry: 1000            <- first event of the response only
//       <blank line>
//     (proto3 JSON: lowerCamelCase names, 64-bit ints as strings, default
//     values omitted), then, when the backend ends the call,
//       event: end
//       data: {"code":<grpc code>,"message":"<details>"}
//     and closes the response. An idle stream gets a ":" comment every 15 s.
//     The client going away cancels the call; when the client reads slower
//     than the backend sends, the call is paused until the socket drains.
//   Anything else: 404 (405 for a non-GET on /v1/firehose); a bad number in
//   the query or Last-Event-ID: 400. Errors have a {"code","message"} body.
//
// Flags (or environment variables):
//   --listen=HOST:PORT   NODE_PEER_LISTEN   default 127.0.0.1:18081
//   --backend=HOST:PORT  NODE_PEER_BACKEND  default 127.0.0.1:50061
//   --proto=PATH         NODE_PEER_PROTO    default
//                        ../../proto/bench/v1/firehose.proto (from this file)
// Prints "node_peer listening on HOST:PORT" on stderr once it accepts
// connections; exits on SIGTERM / SIGINT.
//
// Setup: bench/node_peer/setup.sh (npm ci from the committed lockfile), then
//   node bench/node_peer/server.js --backend=127.0.0.1:50061

'use strict';

const http = require('node:http');
const path = require('node:path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const HEARTBEAT_MS = 15000;
const RETRY_MS = 1000;

function flag(name, envName, fallback) {
  const prefix = `--${name}=`;
  const arg = process.argv.slice(2).find((a) => a.startsWith(prefix));
  if (arg !== undefined) return arg.slice(prefix.length);
  return process.env[envName] || fallback;
}

const listen = flag('listen', 'NODE_PEER_LISTEN', '127.0.0.1:18081');
const backend = flag('backend', 'NODE_PEER_BACKEND', '127.0.0.1:50061');
const protoPath = flag('proto', 'NODE_PEER_PROTO',
    path.join(__dirname, '..', '..', 'proto', 'bench', 'v1', 'firehose.proto'));

// keepCase: false gives lowerCamelCase names, longs: String gives 64-bit
// ints as decimal strings and defaults: false leaves unset fields out, so
// JSON.stringify of a decoded Event is its proto3 JSON.
const packageDefinition = protoLoader.loadSync(protoPath, {
  keepCase: false,
  longs: String,
  enums: String,
  defaults: false,
  oneofs: true,
});
const { Firehose } = grpc.loadPackageDefinition(packageDefinition).bench.v1;
const client = new Firehose(backend, grpc.credentials.createInsecure());

// Unsigned decimal query values; "" or absent is 0 (the proto3 default).
function parseUint(text, max) {
  if (text === null || text === '') return 0n;
  if (!/^[0-9]+$/.test(text)) return null;
  const value = BigInt(text);
  return value <= max ? value : null;
}
const UINT32_MAX = 0xffffffffn;
const UINT64_MAX = 0xffffffffffffffffn;

function sendError(res, httpStatus, code, message) {
  res.writeHead(httpStatus, {
    'Content-Type': 'application/json',
    'Cache-Control': 'no-store',
  });
  res.end(JSON.stringify({ code, message }));
}

function serveFirehose(req, res, query) {
  const rate = parseUint(query.get('rate'), UINT32_MAX);
  const count = parseUint(query.get('count'), UINT64_MAX);
  const payloadBytes = parseUint(query.get('payload_bytes'), UINT32_MAX);
  if (rate === null || count === null || payloadBytes === null) {
    sendError(res, 400, grpc.status.INVALID_ARGUMENT,
        'rate, count and payload_bytes must be unsigned integers');
    return;
  }
  const lastEventId = req.headers['last-event-id'];
  const afterSeq = lastEventId === undefined ? 0n :
      parseUint(lastEventId, UINT64_MAX);
  if (afterSeq === null) {
    sendError(res, 400, grpc.status.INVALID_ARGUMENT,
        'Last-Event-ID must be an unsigned integer');
    return;
  }

  const call = client.Stream({
    rate: Number(rate),
    count: count.toString(),
    payloadBytes: Number(payloadBytes),
    afterSeq: afterSeq.toString(),
  });

  res.writeHead(200, {
    'Content-Type': 'text/event-stream',
    'Cache-Control': 'no-cache',
    'X-Accel-Buffering': 'no',
  });
  res.flushHeaders();

  let done = false;  // the response is over (ended or the client left)
  let first = true;
  let paused = false;
  let status = null;

  // Keep-alive comment after HEARTBEAT_MS without a write.
  const heartbeat = setTimeout(() => write(':\n\n'), HEARTBEAT_MS);

  function write(text) {
    heartbeat.refresh();
    if (!res.write(text) && !paused) {
      // The socket's buffer is full: stop reading from the backend until it
      // drains (gRPC flow control then slows the backend down).
      paused = true;
      call.pause();
      res.once('drain', () => {
        paused = false;
        if (!done) call.resume();
      });
    }
  }

  function finish() {
    done = true;
    clearTimeout(heartbeat);
  }

  call.on('data', (event) => {
    if (done) return;
    let frame = `id: ${event.seq}\nevent: tick\ndata: ${JSON.stringify(event)}\n`;
    if (first) {
      frame += `retry: ${RETRY_MS}\n`;
      first = false;
    }
    write(frame + '\n');
  });
  // A non-OK status also arrives as 'error'; 'status' carries it either way.
  call.on('error', () => {});
  call.on('status', (s) => { status = s; });
  // 'end' comes after every buffered message was delivered.
  call.on('end', () => {
    if (done) return;
    finish();
    const code = status ? status.code : grpc.status.UNKNOWN;
    const message = status ? status.details : 'stream ended without status';
    res.end(`event: end\ndata: ${JSON.stringify({ code, message })}\n\n`);
  });

  res.on('close', () => {
    if (done) return;
    // The client went away before the backend ended the call.
    finish();
    call.cancel();
  });
}

const server = http.createServer((req, res) => {
  let url;
  try {
    url = new URL(req.url, 'http://localhost');
  } catch {
    sendError(res, 400, grpc.status.INVALID_ARGUMENT, 'bad request target');
    return;
  }
  if (url.pathname !== '/v1/firehose') {
    sendError(res, 404, grpc.status.NOT_FOUND, `no route for ${url.pathname}`);
    return;
  }
  if (req.method !== 'GET') {
    res.setHeader('Allow', 'GET');
    sendError(res, 405, grpc.status.UNIMPLEMENTED, `${req.method} not allowed`);
    return;
  }
  serveFirehose(req, res, url.searchParams);
});

// Streams live for hours: no request timeout (Node 20 defaults to 300 s).
// keepAliveTimeout only applies between requests and headersTimeout only
// while the request headers arrive, so their defaults are kept; the socket
// idle timeout (server.timeout) is 0 and maxConnections unset (unlimited) by
// default.
server.requestTimeout = 0;

const colon = listen.lastIndexOf(':');
const host = listen.slice(0, colon).replace(/^\[|\]$/g, '');
const port = Number(listen.slice(colon + 1));
server.listen(port, host, () => {
  const address = server.address();
  console.error(`node_peer listening on ${listen.slice(0, colon)}:${address.port}`);
});

function shutdown() {
  server.close();
  server.closeAllConnections();
  client.close();
  process.exit(0);
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
