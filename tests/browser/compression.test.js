// Compressed event streams (`compression:`) in headless Chromium: a page
// served by the gateway (index_page) reads the demo ticker with EventSource
// while the response is Brotli- or gzip-coded, as the browser's own
// Accept-Encoding allows. Four gateways, one per way a coding comes about:
// br over HTTPS (HTTP/1.1), br over HTTPS with HTTP/2 (h2), gzip over HTTPS
// from a gateway with `br: false`, and plain HTTP (whatever Chromium's
// Accept-Encoding leads to there: Chromium 156 sends `gzip, deflate, br,
// zstd` over plain HTTP too, so br). On each:
//
//   - a finite stream arrives intact and in order (ids = seq contiguous from
//     1, proto3 JSON with the very prices of the route with compression off,
//     then `end` with code 0), over a response whose Content-Encoding is the
//     expected coding and whose Vary names Accept-Encoding (Chromium's own
//     record of the response headers, Playwright's `response` event);
//   - the route with `compression: {enabled: false}` answers the same page
//     with no Content-Encoding (and no Vary);
//   - no event waits for the next: with a tick every INTERVAL_MS, the page
//     sees the first tick long before the second is even sent (the tick's
//     own send time, from the backend, against the page's clock), measured
//     on the page with bounded condition waits only;
//   - heartbeats (SSE comments, written every HEARTBEAT_MS while the stream
//     is idle) go through the compressor in between, reach Chromium as
//     decoded data of their own (DevTools Network.dataReceived) and the
//     events after them still decode.
//
// The wire and decoded sizes (DevTools, and the gateway's access log bytes=)
// are reported, not asserted.

'use strict';

const assert = require('node:assert/strict');
const { after, before, describe, test } = require('node:test');
const harness = require('./harness');

const { PATIENCE_MS } = harness;
const FINITE_COUNT = 50;     // Ticks of the finite stream...
const FINITE_INTERVAL = 20;  // ...one every this many ms.
const INTERVAL_MS = 3000;    // Between the two ticks of the slow stream.
const HEARTBEAT_MS = 400;    // On the compressed route: ~7 in the gap.
const HEARTBEAT_MAX = 8;     // Decoded bytes of a chunk holding only a
                             // heartbeat (a tick is ~100).

// The gateways: how each is set up and which coding its streams must use
// (`expect(acceptEncoding)`: from the request's Accept-Encoding).
const brWhenAccepted = (accept) => (/\bbr\b/.test(accept) ? 'br' : 'gzip');
const CASES = [
  { name: 'br over HTTPS (HTTP/1.1)', tls: true, http2: false,
    compression: {}, protocol: 'http/1.1', expect: () => 'br' },
  { name: 'br over HTTPS (h2)', tls: true, http2: true,
    compression: {}, protocol: 'h2', expect: () => 'br' },
  { name: 'gzip over HTTPS (br: false)', tls: true, http2: false,
    compression: { br: false }, protocol: 'http/1.1', expect: () => 'gzip' },
  { name: 'plain HTTP', tls: false, http2: false,
    compression: {}, protocol: 'http/1.1', expect: brWhenAccepted },
];

function gatewayConfig(backendPort, cert, { tls, http2, compression }) {
  const route = {
    method: 'demo.v1.Ticker/Watch',
    event: 'tick',
    id_field: 'seq',
    resume_field: 'after_seq',
  };
  return harness.writeConfig({
    listen: '127.0.0.1:0',
    backend: `127.0.0.1:${backendPort}`,
    descriptor_sets: [process.env.TICKER_DESCRIPTORS],
    index_page: harness.writeBlankPage(),
    access_log: 'stderr',  // Read back: bytes= per stream.
    ...(tls ? { tls: { cert_file: cert.cert, key_file: cert.key } } : {}),
    http2: { enabled: http2 },
    compression,
    routes: [
      { path: '/v1/ticks', ...route, heartbeat_ms: HEARTBEAT_MS },
      { path: '/v1/plain', ...route, compression: { enabled: false } },
    ],
  });
}

// Evaluated in the page: opens one EventSource per url of `urls`, all at
// once, listening to `tick`, `end` and `message`. Each record, in
// window.streams, keeps every event in arrival order with its type,
// lastEventId, data, arrival time on the page (performance.now()) and wall
// clock (ms since the epoch, sub-millisecond), every error (with
// readyState), its opens, and whether it closed (after `end`).
// window.openedAt: when they were opened (performance.now()).
function openStreams(urls) {
  window.openedAt = performance.now();
  window.streams = urls.map((url) => {
    const record = { url, events: [], errors: [], opens: 0, closed: false };
    const source = new EventSource(url);
    for (const type of ['tick', 'end', 'message']) {
      source.addEventListener(type, (event) => {
        const at = performance.now();
        record.events.push({ type: event.type, id: event.lastEventId,
                             data: event.data, at,
                             wall: performance.timeOrigin + at });
        if (type === 'end') {
          source.close();
          record.closed = true;
        }
      });
    }
    source.onopen = () => { record.opens += 1; };
    source.onerror = () => {
      record.errors.push({ readyState: source.readyState });
    };
    return record;
  });
}

// Records, on `page`, each stream request (path and query -> its wire
// request headers, then its response's status, protocol and headers, from
// Playwright's request/response events) and, from Chromium's DevTools
// protocol, its protocol and each data chunk Chromium handed on (decoded
// bytes, dataReceived.dataLength; bytes received, encodedDataLength, which
// Chromium reports late: it adds up, chunk by chunk it may not).
async function watchStreams(browser, page) {
  const streams = new Map();
  const entry = (url) => {
    if (!streams.has(url)) {
      streams.set(url, { requestHeaders: null, status: 0, headers: null,
                         protocol: '', chunks: [] });
    }
    return streams.get(url);
  };
  const pending = [];
  const key = (url) => {
    const parsed = new URL(url);
    return parsed.pathname.startsWith('/v1/') ? parsed.pathname + parsed.search
                                              : null;
  };
  page.on('request', (request) => {
    const url = key(request.url());
    if (url === null) return;
    pending.push(request.allHeaders().then((headers) => {
      entry(url).requestHeaders = headers;
    }));
  });
  page.on('response', (response) => {
    const url = key(response.url());
    if (url === null) return;
    const stream = entry(url);
    stream.status = response.status();
    pending.push(response.allHeaders().then((headers) => {
      stream.headers = headers;
    }));
  });
  const byId = new Map();
  const cdp = await browser.newCDPSession(page);
  cdp.on('Network.requestWillBeSent', ({ requestId, request }) => {
    const url = key(request.url);
    if (url !== null) byId.set(requestId, entry(url));
  });
  cdp.on('Network.responseReceived', ({ requestId, response }) => {
    const stream = byId.get(requestId);
    if (stream) stream.protocol = response.protocol;
  });
  cdp.on('Network.dataReceived', ({ requestId, dataLength,
                                    encodedDataLength }) => {
    const stream = byId.get(requestId);
    if (stream) {
      stream.chunks.push({ decoded: dataLength, wire: encodedDataLength });
    }
  });
  await cdp.send('Network.enable');
  return {
    // Resolves once every header read so far is in; then the record of
    // `url`.
    async get(url) {
      await Promise.all(pending);
      return streams.get(url);
    },
  };
}

// Resolves with the first truthy value `probe()` returns, polling every
// 20 ms; fails after PATIENCE_MS with `explain()`.
async function waitFor(probe, explain) {
  const deadline = Date.now() + PATIENCE_MS;
  for (;;) {
    const value = probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out: ${explain()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

// The access log lines of stream routes in `log`, parsed.
function accessLogLines(log) {
  return log.split('\n').filter((line) => / route=\/v1\//.test(line))
      .map((line) => ({
        line,
        route: (line.match(/ route=(\S+)/) || [])[1],
        proto: (line.match(/ proto=(\S+)/) || [])[1],
        status: (line.match(/ status=(\S+)/) || [])[1],
        events: Number((line.match(/ events=(\d+)/) || [])[1]),
        bytes: Number((line.match(/ bytes=(\d+)/) || [])[1]),
      }));
}

// Checks `record` (openStreams) is a whole finite ticker stream of `symbol`:
// ticks with ids 1..count in order, proto3 JSON, then `end` code 0, no
// error, one open. Returns the ticks, parsed.
function assertWholeStream(record, symbol, count, label) {
  assert.deepEqual(record.errors, [], `${label}: errors`);
  assert.equal(record.opens, 1, `${label}: opens`);
  assert.equal(record.closed, true, `${label}: closed after end`);
  assert.deepEqual(record.events.map((e) => e.type),
                   [...Array(count).fill('tick'), 'end'],
                   `${label}: event types`);
  const ticks = record.events.slice(0, count).map((event, i) => {
    const seq = String(i + 1);
    assert.equal(event.id, seq, `${label}: id of event ${i}`);
    const tick = JSON.parse(event.data);
    assert.deepEqual(Object.keys(tick).sort(),
                     ['price', 'seq', 'symbol', 'time'], event.data);
    assert.equal(tick.seq, seq, event.data);
    assert.equal(tick.symbol, symbol, event.data);
    assert.ok(Number.isFinite(tick.price) && tick.price > 0, event.data);
    assert.match(tick.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    return tick;
  });
  const end = record.events[count];
  assert.equal(end.id, String(count), `${label}: end carries the last id`);
  assert.deepEqual(JSON.parse(end.data), { code: 0, message: '' });
  return ticks;
}

const sum = (values) => values.reduce((a, b) => a + b, 0);

describe('compressed event streams in Chromium (demo ticker)', () => {
  let browser;
  let backend;
  let cert;

  before(async () => {
    backend = await harness.startDemoBackend();
    cert = harness.makeTestCertificate();
    browser = await harness.launchBrowser({ ignoreHTTPSErrors: true });
  });

  after(async () => {
    if (browser) await browser.close();
    await harness.stopAll();
  });

  CASES.forEach((gatewayCase, caseIndex) => {
    describe(gatewayCase.name, () => {
      let gateway;
      let origin;

      before(async () => {
        gateway = await harness.startGateway(
            gatewayConfig(backend.port, cert, gatewayCase));
        origin = `${gatewayCase.tls ? 'https' : 'http'}://127.0.0.1:` +
                 `${gateway.port}`;
      });

      after(async () => {
        if (gateway) await gateway.stop();
      });

      test(`${gatewayCase.name}: ${FINITE_COUNT} ticks intact and in ` +
           'order, then end; the route with compression off is not coded',
      async (t) => {
        const symbol = `FIN${caseIndex}`;
        const query = `?symbol=${symbol}&interval_ms=${FINITE_INTERVAL}` +
                      `&count=${FINITE_COUNT}`;
        const compressedUrl = `/v1/ticks${query}`;
        const plainUrl = `/v1/plain${query}`;
        const page = await browser.newPage();
        const network = await watchStreams(browser, page);
        await page.goto(`${origin}/`);
        await page.evaluate(openStreams, [compressedUrl, plainUrl]);
        await page.waitForFunction(
            () => window.streams.every((r) => r.closed || r.errors.length),
            null, { timeout: PATIENCE_MS });
        const [compressed, plain] =
            await page.evaluate(() => window.streams);
        const compressedWire = await network.get(compressedUrl);
        const plainWire = await network.get(plainUrl);
        await page.close();

        // The events: whole, in order, and the same ticks both ways (the
        // demo's prices are a function of (symbol, seq)).
        const ticks = assertWholeStream(compressed, symbol, FINITE_COUNT,
                                        'compressed');
        const plainTicks = assertWholeStream(plain, symbol, FINITE_COUNT,
                                             'plain');
        const strip = ({ seq, symbol: s, price }) => ({ seq, s, price });
        assert.deepEqual(ticks.map(strip), plainTicks.map(strip));

        // The coded response: what Chromium sent and what it got back.
        const accept = compressedWire.requestHeaders['accept-encoding'] ?? '';
        const coding = gatewayCase.expect(accept);
        assert.ok(accept.split(/\s*,\s*/).includes(coding),
                  `Accept-Encoding ${accept} allows ${coding}`);
        assert.equal(compressedWire.status, 200);
        assert.equal(compressedWire.protocol, gatewayCase.protocol);
        assert.equal(compressedWire.headers['content-type'],
                     'text/event-stream');
        assert.equal(compressedWire.headers['content-encoding'], coding,
                     JSON.stringify(compressedWire.headers));
        assert.match(compressedWire.headers.vary ?? '', /\baccept-encoding\b/i,
                     JSON.stringify(compressedWire.headers));
        // The route with compression off: the same request headers, no
        // coding and nothing to vary on.
        assert.equal(plainWire.requestHeaders['accept-encoding'], accept);
        assert.equal(plainWire.status, 200);
        assert.equal(plainWire.headers['content-encoding'], undefined,
                     JSON.stringify(plainWire.headers));
        assert.doesNotMatch(plainWire.headers.vary ?? '', /accept-encoding/i,
                            JSON.stringify(plainWire.headers));

        // Sizes: the gateway's bytes= is the body as written (coded or
        // not); DevTools has the decoded bytes Chromium handed on.
        // (The first two streams of this gateway; the access log has its
        // own thread: wait for both lines.)
        const logged = await waitFor(() => {
          const lines = accessLogLines(gateway.log());
          return lines.length >= 2 ? lines : null;
        }, () => `two access log lines:\n${gateway.log()}`);
        const compressedLog = logged.filter((l) => l.route === '/v1/ticks');
        const plainLog = logged.filter((l) => l.route === '/v1/plain');
        assert.equal(compressedLog.length, 1, gateway.log());
        assert.equal(plainLog.length, 1, gateway.log());
        // events= counts the ticks, not `end`.
        assert.equal(compressedLog[0].events, FINITE_COUNT);
        const decoded = sum(compressedWire.chunks.map((c) => c.decoded));
        const plainDecoded = sum(plainWire.chunks.map((c) => c.decoded));
        // Unchunked and uncoded, the plain body is exactly what the
        // gateway wrote.
        assert.equal(plainDecoded, plainLog[0].bytes);
        t.diagnostic(
            `compression ${gatewayCase.name}: ${FINITE_COUNT} ticks + end ` +
            `intact, Content-Encoding ${coding}, Vary ` +
            `${compressedWire.headers.vary} (Accept-Encoding ${accept}, ` +
            `${compressedWire.protocol}); body ${compressedLog[0].bytes} ` +
            `bytes coded for ${decoded} decoded ` +
            `(${(decoded / compressedLog[0].bytes).toFixed(2)}x; ` +
            `route with compression off ${plainLog[0].bytes} bytes, no ` +
            'Content-Encoding); Chromium received ' +
            `${sum(compressedWire.chunks.map((c) => c.wire))} vs ` +
            `${sum(plainWire.chunks.map((c) => c.wire))} bytes of body ` +
            `with framing (DevTools), in ${compressedWire.chunks.length} vs ` +
            `${plainWire.chunks.length} chunks`);
      });

      test(`${gatewayCase.name}: each tick reaches the page before the ` +
           'next is sent; heartbeats in between decode', async (t) => {
        const symbol = `SLOW${caseIndex}`;
        const url = `/v1/ticks?symbol=${symbol}&interval_ms=${INTERVAL_MS}` +
                    '&count=2';
        const page = await browser.newPage();
        const network = await watchStreams(browser, page);
        await page.goto(`${origin}/`);
        await page.evaluate(openStreams, [url]);
        // The first tick, while the second is still INTERVAL_MS away.
        await page.waitForFunction(
            () => window.streams[0].events.length >= 1 ||
                  window.streams[0].errors.length > 0,
            null, { timeout: PATIENCE_MS });
        const early = await page.evaluate(() => ({
          events: window.streams[0].events.length,
          sinceOpen: performance.now() - window.openedAt,
        }));
        await page.waitForFunction(
            () => window.streams[0].closed ||
                  window.streams[0].errors.length > 0,
            null, { timeout: PATIENCE_MS });
        const { record, openedAt } = await page.evaluate(
            () => ({ record: window.streams[0], openedAt: window.openedAt }));
        const wire = await network.get(url);
        await page.close();

        const ticks = assertWholeStream(record, symbol, 2, 'slow');
        const coding = wire.headers['content-encoding'];
        const accept = wire.requestHeaders['accept-encoding'] ?? '';
        assert.equal(coding, gatewayCase.expect(accept));
        assert.match(wire.headers.vary ?? '', /\baccept-encoding\b/i);
        // Only the first tick was there when the page first looked.
        assert.equal(early.events, 1);
        const [first, second, end] = record.events;
        const sentFirst = Date.parse(ticks[0].time);
        const sentSecond = Date.parse(ticks[1].time);
        // The backend really waited between them...
        assert.ok(sentSecond - sentFirst >= INTERVAL_MS - 100,
                  `ticks sent ${sentSecond - sentFirst} ms apart`);
        // ...and the page had the first long before the second was sent:
        // nothing held it back in a compressor.
        const firstLatency = first.wall - sentFirst;
        assert.ok(first.wall < sentSecond - INTERVAL_MS / 2,
                  `first tick seen ${firstLatency.toFixed(1)} ms after it ` +
                  `was sent, the second was sent ${sentSecond - sentFirst} ` +
                  'ms after it');
        assert.ok(first.at - openedAt < INTERVAL_MS / 2,
                  `first tick ${(first.at - openedAt).toFixed(1)} ms after ` +
                  'opening');
        assert.ok(second.at - first.at >= INTERVAL_MS - 500,
                  `the page saw the ticks ${second.at - first.at} ms apart`);
        const secondLatency = second.wall - sentSecond;
        assert.ok(secondLatency < INTERVAL_MS / 2,
                  `second tick seen ${secondLatency.toFixed(1)} ms after it ` +
                  'was sent');

        // Heartbeats: chunks Chromium decoded that hold no event (an SSE
        // comment each); the second tick and `end` after them decoded.
        const heartbeats = wire.chunks.filter(
            (c) => c.decoded > 0 && c.decoded <= HEARTBEAT_MAX);
        const expected = Math.floor(INTERVAL_MS / HEARTBEAT_MS) - 2;
        assert.ok(heartbeats.length >= expected,
                  `${heartbeats.length} heartbeat chunks, expected at least ` +
                  `${expected}: ${JSON.stringify(wire.chunks)}`);
        t.diagnostic(
            `compression ${gatewayCase.name} (${coding}): first tick on the ` +
            `page ${(first.at - openedAt).toFixed(1)} ms after opening the ` +
            `EventSource, ${firstLatency.toFixed(1)} ms after the backend ` +
            `sent it; second sent ${sentSecond - sentFirst} ms later, seen ` +
            `${secondLatency.toFixed(1)} ms after sending, end ` +
            `${(end.at - second.at).toFixed(1)} ms after it; ` +
            `${heartbeats.length} heartbeat chunks decoded in between ` +
            `(${[...new Set(heartbeats.map((c) => c.decoded))].join('/')} ` +
            'bytes decoded each)');
      });
    });
  });
});
