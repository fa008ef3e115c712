// HTTP/2 on the gateway's listening side, in headless Chromium over TLS (a
// throwaway CA and certificate, harness.makeTestCertificate(); Chromium told
// to accept it). One page opens 40 EventSources on the demo ticker at once,
// each on its own symbol: over HTTP/2 (ALPN h2) all 40 share one connection
// and all receive events at the same time, which over HTTP/1.1 only six
// could (Chromium's per-origin connection limit). The gateway is killed
// with SIGKILL mid-stream and started again on the same port; every
// EventSource reconnects by itself with its Last-Event-ID and each of the 40
// runs on after its own last event, with nothing lost or duplicated. The
// protocol is checked three ways: Chromium's own record of each response
// (DevTools Network.responseReceived: protocol and connection), the page's
// resource timing (nextHopProtocol) and the gateway's access log (proto=).
//
// A control: the same page against the same gateway with `http2` off (TLS,
// ALPN http/1.1 only) gets events on exactly six EventSources while the
// other 34 wait, without an event and without an error.

'use strict';

const assert = require('node:assert/strict');
const fs = require('node:fs');
const https = require('node:https');
const { after, before, describe, test } = require('node:test');
const harness = require('./harness');

const { PATIENCE_MS } = harness;
const STREAMS = 40;
const INTERVAL_MS = 50;    // Between two ticks of one stream.
const BEFORE_KILL = 5;     // Events every stream has before the kill.
const AFTER_RESTART = 10;  // Events every stream gets after the restart.
// Chromium's limit of HTTP/1.1 connections per origin (its socket pool's
// per-group limit), and how many events the six must each have while the
// others are still waiting, in the control.
const HTTP1_CONNECTIONS = 6;
const CONTROL_EVENTS = 20;

const SYMBOLS = Array.from({ length: STREAMS }, (_, i) => `S${i}`);
const URLS = SYMBOLS.map(
    (symbol) => `/v1/ticks?symbol=${symbol}&interval_ms=${INTERVAL_MS}&count=0`);

// Streams the gateway on `port` holds open per route, from its /metrics
// (sse_gateway_active_streams), fetched over HTTPS trusting only `caCert`.
function activeStreams(port, caCert) {
  return new Promise((resolve, reject) => {
    const request = https.get(
        { host: '127.0.0.1', port, path: '/metrics', ca: caCert },
        (response) => {
          let body = '';
          response.on('data', (chunk) => { body += chunk; });
          response.on('end', () => {
            const active = {};
            for (const match of body.matchAll(
                /^sse_gateway_active_streams\{route="([^"]*)"\} (\d+)$/gm)) {
              active[match[1]] = Number(match[2]);
            }
            resolve(active);
          });
        });
    request.setTimeout(PATIENCE_MS,
                       () => request.destroy(new Error('timeout')));
    request.on('error', reject);
  });
}

// Evaluated in the page: opens one EventSource per url of `urls`, all at
// once, listening to `tick`, `end` and `message`. Each source's record, in
// window.streams, keeps every event in arrival order with its type,
// lastEventId, data, the number of opens seen by then (1: the first
// connection) and its arrival time (performance.now()), every error (with
// readyState and the lastEventId of the last event before it), and its
// opens. window.openedAt: when they were opened; window.closeStreams()
// closes them all, window.readyStates() says how they are.
function openStreams(urls) {
  // Room for an entry per request, the failed reconnects included.
  performance.setResourceTimingBufferSize(10000);
  const sources = [];
  window.openedAt = performance.now();
  window.streams = urls.map((url) => {
    const record = { url, events: [], errors: [], opens: 0 };
    const source = new EventSource(url);
    for (const type of ['tick', 'end', 'message']) {
      source.addEventListener(type, (event) => {
        record.events.push({ type: event.type, id: event.lastEventId,
                             data: event.data, conn: record.opens,
                             at: performance.now() });
      });
    }
    source.onopen = () => { record.opens += 1; };
    source.onerror = () => {
      const last = record.events[record.events.length - 1];
      record.errors.push(
          { readyState: source.readyState, lastId: last ? last.id : '' });
    };
    sources.push(source);
    return record;
  });
  window.readyStates = () => sources.map((source) => source.readyState);
  // The ones still waiting for a connection first: else a connection the
  // others free could still take one of them to the gateway.
  window.closeStreams = () => {
    const waiting = sources.filter((source) => source.readyState === 0);
    waiting.forEach((source) => source.close());
    sources.forEach((source) => source.close());
  };
}

// Evaluated in the page: per stream, its number of events and of errors,
// its EventSource's readyState, and whether an `end` came.
function countStreams() {
  return {
    events: window.streams.map((record) => record.events.length),
    errors: window.streams.map((record) => record.errors.length),
    states: window.readyStates(),
    ended: window.streams.filter(
        (record) => record.events.some((e) => e.type !== 'tick')).length,
  };
}

// Records, on `page`, every stream request it makes (in order, with its
// Last-Event-ID once read and its response status, 0: none) and, from
// Chromium's DevTools protocol, every response's protocol and connection.
async function watchRequests(browser, page) {
  const requests = [];
  page.on('request', (request) => {
    const url = new URL(request.url());
    if (!url.pathname.startsWith('/v1/')) return;
    const entry = { url: url.pathname + url.search, lastEventId: undefined,
                    status: 0 };
    requests.push(entry);
    request.allHeaders().then((headers) => {
      entry.lastEventId = headers['last-event-id'] ?? null;
    }, () => { entry.lastEventId = 'unreadable'; });
    request.response().then((response) => {
      if (response) entry.status = response.status();
    }, () => {});
  });
  const responses = [];
  const cdp = await browser.newCDPSession(page);
  cdp.on('Network.responseReceived', ({ response }) => {
    const url = new URL(response.url);
    responses.push({ url: url.pathname + url.search,
                     protocol: response.protocol,
                     connection: response.connectionId });
  });
  await cdp.send('Network.enable');
  return { requests, responses };
}

function gatewayConfig(backendPort, cert, http2) {
  return harness.writeConfig({
    listen: '127.0.0.1:0',
    backend: `127.0.0.1:${backendPort}`,
    descriptor_sets: [process.env.TICKER_DESCRIPTORS],
    index_page: harness.writeBlankPage(),
    access_log: 'stderr',  // Read back: proto= and last_event_id=.
    tls: { cert_file: cert.cert, key_file: cert.key },
    http2: { enabled: http2, max_concurrent_streams: 256 },
    routes: [{
      path: '/v1/ticks',
      method: 'demo.v1.Ticker/Watch',
      event: 'tick',
      id_field: 'seq',
      resume_field: 'after_seq',
      retry_ms: 200,  // Reconnect fast after the gateway restart.
    }],
  });
}

// The access log lines of /v1/ticks streams in `log`, parsed.
function accessLogLines(log) {
  return log.split('\n').filter((line) => line.includes(' route=/v1/ticks '))
      .map((line) => ({
        line,
        remote: (line.match(/ remote=(\S+)/) || [])[1],
        proto: (line.match(/ proto=(\S+)/) || [])[1],
        status: (line.match(/ status=(\S+)/) || [])[1],
        lastEventId: (line.match(/ last_event_id=(\S+)$/) || [])[1],
      }));
}

const sortedNumbers = (values) => [...values].sort((a, b) => a - b);

describe('40 EventSources on one page over HTTP/2 (TLS, demo ticker)', () => {
  let browser;
  let backend;
  let cert;
  let caCert;

  before(async () => {
    backend = await harness.startDemoBackend();
    cert = harness.makeTestCertificate();
    caCert = fs.readFileSync(cert.caCert);
    browser = await harness.launchBrowser({ ignoreHTTPSErrors: true });
  });

  after(async () => {
    if (browser) await browser.close();
    await harness.stopAll();
  });

  test('all 40 receive events at once over one h2 connection; SIGKILL of ' +
       'the gateway: each resumes with nothing lost or duplicated',
  async (t) => {
    const configFile = gatewayConfig(backend.port, cert, true);
    let gateway = await harness.startGateway(configFile);
    const port = gateway.port;
    const origin = `https://127.0.0.1:${port}`;
    const page = await browser.newPage();
    const { requests, responses } = await watchRequests(browser, page);
    await page.goto(`${origin}/`);
    assert.equal(await page.evaluate(
        () => performance.getEntriesByType('navigation')[0].nextHopProtocol),
                 'h2', 'the page itself came over h2');
    await page.evaluate(openStreams, URLS);
    await page.waitForFunction(
        (least) => window.streams.every((r) => r.events.length >= least),
        BEFORE_KILL, { timeout: PATIENCE_MS });

    // All 40 at once: every one open and receiving, none ended or failed,
    // and the gateway holds 40 streams.
    const beforeKill = await page.evaluate(countStreams);
    assert.deepEqual(beforeKill.states, Array(STREAMS).fill(1),
                     'every EventSource is OPEN');
    assert.deepEqual(beforeKill.errors, Array(STREAMS).fill(0));
    assert.equal(beforeKill.ended, 0, 'no stream ended');
    assert.deepEqual(await activeStreams(port, caCert),
                     { '/v1/ticks': STREAMS });
    const startup = await page.evaluate((least) => {
      const firsts = window.streams.map((r) => r.events[0].at);
      return {
        allFirst: Math.max(...firsts) - window.openedAt,
        firstSpread: Math.max(...firsts) - Math.min(...firsts),
        allLeast: Math.max(...window.streams.map(
            (r) => r.events[least - 1].at)) - window.openedAt,
      };
    }, BEFORE_KILL);
    const initial = responses.filter((r) => r.url.startsWith('/v1/ticks?'));
    assert.equal(initial.length, STREAMS, JSON.stringify(initial));
    assert.ok(initial.every((r) => r.protocol === 'h2'),
              `every stream response over h2: ${JSON.stringify(initial)}`);
    const navigation = responses.find((r) => r.url === '/');
    assert.ok(navigation, JSON.stringify(responses));
    assert.deepEqual([...new Set(initial.map((r) => r.connection))],
                     [navigation.connection],
                     'the 40 streams share the page\'s one connection');

    await gateway.kill();
    // Every EventSource notices its dead connection before the gateway is
    // back; from then on no event can arrive until the restart.
    await page.waitForFunction(
        (errors) => window.streams.every(
            (r, i) => r.errors.length > errors[i]),
        beforeKill.errors, { timeout: PATIENCE_MS });
    const atRestart = await page.evaluate(countStreams);
    const requestsBeforeRestart = requests.length;
    const responsesBeforeRestart = responses.length;
    gateway = await harness.startGateway(configFile, port);
    assert.equal(gateway.port, port);
    const restartedAt = await page.evaluate(() => performance.now());

    await page.waitForFunction(
        (least) => window.streams.every(
            (r, i) => r.events.length >= least[i]),
        atRestart.events.map((n) => n + AFTER_RESTART),
        { timeout: 2 * PATIENCE_MS });
    // The restarted gateway holds all 40 again.
    assert.deepEqual(await activeStreams(port, caCert),
                     { '/v1/ticks': STREAMS });
    const resumedStates = await page.evaluate(() => window.readyStates());
    assert.deepEqual(resumedStates, Array(STREAMS).fill(1));
    await page.evaluate(() => window.closeStreams());
    const records = await page.evaluate(() => window.streams);
    const resumedIn = Math.max(...records.map(
        (r) => r.events.find((e) => e.conn >= 2).at)) - restartedAt;
    // Resource timing has an entry per finished request: the first ones
    // (ended by the kill) and the resumed ones (closed just now).
    const timing = await page.evaluate(() => performance.getEntriesByType(
        'resource').map((e) => ({ url: e.name, protocol: e.nextHopProtocol })));
    await page.close();
    await gateway.stop();
    const restartedLog = accessLogLines(gateway.log());

    // Each stream: ticks of its own symbol, ids = seq, contiguous from 1,
    // those before the kill on the first connection, the rest on a later
    // one; it failed once at the kill and reconnected.
    const summary = { before: [], after: [] };
    records.forEach((record, i) => {
      const label = SYMBOLS[i];
      const at = atRestart.events[i];
      const seqs = record.events.map((event) => {
        assert.equal(event.type, 'tick', `${label}: ${event.type}`);
        const tick = JSON.parse(event.data);
        assert.equal(tick.symbol, label);
        assert.equal(event.id, tick.seq);
        return Number(tick.seq);
      });
      const distinct = new Set(seqs);
      const lost = Math.max(...seqs) - distinct.size;
      const duplicated = seqs.length - distinct.size;
      assert.equal(lost, 0, `${label}: lost events; seqs: ${seqs}`);
      assert.equal(duplicated, 0, `${label}: duplicated events; seqs: ${seqs}`);
      assert.deepEqual(seqs, Array.from({ length: seqs.length },
                                        (_, k) => k + 1),
                       `${label}: seqs in order from 1`);
      assert.ok(at >= BEFORE_KILL, `${label}: ${at} events before the kill`);
      assert.ok(seqs.length - at >= AFTER_RESTART,
                `${label}: ${seqs.length - at} events after the restart`);
      assert.ok(record.events.slice(0, at).every((e) => e.conn === 1),
                `${label}: events before the kill on the first connection`);
      assert.ok(record.events.slice(at).every((e) => e.conn >= 2),
                `${label}: events after the restart on a new connection`);
      assert.ok(record.opens >= 2, `${label} opens: ${record.opens}`);
      assert.equal(record.errors[beforeKill.errors[i]].lastId, String(at));
      summary.before.push(at);
      summary.after.push(seqs.length - at);
    });

    // Each asked again with the id of its last event before the kill: the
    // page's requests (those refused while the gateway was down have no
    // response and no wire headers, and are left out).
    let servedReconnects = 0;
    URLS.forEach((url, i) => {
      const sent = requests.filter((r) => r.url === url);
      assert.equal(sent[0].lastEventId, null, `${url}: first request`);
      assert.equal(sent[0].status, 200);
      const reconnects = sent.slice(1).filter((r) => r.status !== 0);
      assert.ok(reconnects.length >= 1, `${url} reconnected`);
      for (const request of reconnects) {
        assert.equal(request.lastEventId, String(atRestart.events[i]),
                     `${url}: Last-Event-ID of a reconnect`);
        assert.equal(request.status, 200);
        assert.ok(requests.indexOf(request) >= requestsBeforeRestart);
      }
      servedReconnects += reconnects.length;
    });

    // Chromium: the resumed responses came over h2 too.
    const resumed = responses.slice(responsesBeforeRestart)
        .filter((r) => r.url.startsWith('/v1/ticks?'));
    assert.equal(resumed.length, servedReconnects, JSON.stringify(resumed));
    assert.ok(resumed.every((r) => r.protocol === 'h2'),
              `every resumed stream over h2: ${JSON.stringify(resumed)}`);
    const resumedConnections = new Set(resumed.map((r) => r.connection));

    // The page's resource timing: every stream's requests that got a
    // connection went over h2, and nothing went over anything else.
    URLS.forEach((url) => {
      const entries = timing.filter((e) => e.url === `${origin}${url}`);
      assert.ok(entries.filter((e) => e.protocol === 'h2').length >= 2,
                `${url}: resource timing ${JSON.stringify(entries)}`);
      assert.ok(entries.every((e) => e.protocol === 'h2' || e.protocol === ''),
                `${url}: resource timing ${JSON.stringify(entries)}`);
    });

    // The restarted gateway's access log: one line per resumed stream,
    // served over HTTP/2 from the connection(s) Chromium opened, each with
    // the Last-Event-ID it resumed from (the log has no query, so compare
    // the ids as a multiset).
    assert.equal(restartedLog.length, servedReconnects,
                 restartedLog.map((l) => l.line).join('\n'));
    for (const entry of restartedLog) {
      assert.equal(entry.proto, 'HTTP/2', entry.line);
      assert.equal(entry.status, '200', entry.line);
    }
    const remotes = new Set(restartedLog.map((l) => l.remote));
    assert.equal(remotes.size, resumedConnections.size,
                 `remotes ${[...remotes]}; Chromium connections ` +
                 `${[...resumedConnections]}`);
    assert.deepEqual(sortedNumbers(restartedLog.map((l) => Number(
                         JSON.parse(l.lastEventId)))),
                     sortedNumbers(atRestart.events));

    t.diagnostic(
        `http2: ${STREAMS} EventSources on 1 connection (h2); all had ` +
        `their first event ${startup.allFirst.toFixed(0)} ms after opening ` +
        `(first events within ${startup.firstSpread.toFixed(0)} ms of each ` +
        `other), all had ${BEFORE_KILL} after ` +
        `${startup.allLeast.toFixed(0)} ms; gateway active streams ` +
        `${STREAMS}`);
    t.diagnostic(
        `gateway restart: all ${STREAMS} resumed ${resumedIn.toFixed(0)} ms ` +
        `after the restart, over ${resumedConnections.size} h2 ` +
        `connection(s) (${remotes.size} remote(s) in the access log, all ` +
        `proto=HTTP/2), ${servedReconnects} served reconnects; events ` +
        `before the kill ${Math.min(...summary.before)}..` +
        `${Math.max(...summary.before)}, after the restart ` +
        `${Math.min(...summary.after)}..${Math.max(...summary.after)} per ` +
        'stream; lost=0 duplicated=0');
  });

  test('control: over HTTP/1.1 only six of the 40 get events, the others ' +
       'wait', async (t) => {
    const gateway = await harness.startGateway(
        gatewayConfig(backend.port, cert, false));
    const page = await browser.newPage();
    const { responses } = await watchRequests(browser, page);
    await page.goto(`https://127.0.0.1:${gateway.port}/`);
    assert.equal(await page.evaluate(
        () => performance.getEntriesByType('navigation')[0].nextHopProtocol),
                 'http/1.1');
    await page.evaluate(openStreams, URLS);
    // Bounded by conditions only: six streams get CONTROL_EVENTS each (a
    // second or so of ticks) while the 34 others have no connection.
    await page.waitForFunction(
        ({ connections, least }) => window.streams.filter(
            (r) => r.events.length >= least).length >= connections,
        { connections: HTTP1_CONNECTIONS, least: CONTROL_EVENTS },
        { timeout: PATIENCE_MS });
    const counts = await page.evaluate(countStreams);
    const active = await activeStreams(gateway.port, caCert);
    await page.evaluate(() => window.closeStreams());
    await page.close();
    await gateway.stop();

    const receiving = counts.events.filter((n) => n > 0).length;
    const waiting = counts.events.map((n, i) => ({ n, i }))
        .filter(({ n }) => n === 0).map(({ i }) => i);
    assert.equal(receiving, HTTP1_CONNECTIONS,
                 `events per stream: ${counts.events}`);
    assert.equal(waiting.length, STREAMS - HTTP1_CONNECTIONS);
    // The waiting ones are still CONNECTING (0), with no error: queued
    // behind the six connections, not refused.
    for (const i of waiting) assert.equal(counts.states[i], 0);
    assert.deepEqual(counts.errors, Array(STREAMS).fill(0));
    assert.deepEqual(active, { '/v1/ticks': HTTP1_CONNECTIONS });
    const streamResponses = responses.filter(
        (r) => r.url.startsWith('/v1/ticks?'));
    assert.equal(streamResponses.length, HTTP1_CONNECTIONS);
    assert.ok(streamResponses.every((r) => r.protocol === 'http/1.1'),
              JSON.stringify(streamResponses));
    assert.equal(new Set(streamResponses.map((r) => r.connection)).size,
                 HTTP1_CONNECTIONS, 'one connection per stream');
    const logged = accessLogLines(gateway.log());
    assert.equal(logged.length, HTTP1_CONNECTIONS);
    assert.ok(logged.every((l) => l.proto === 'HTTP/1.1'),
              logged.map((l) => l.line).join('\n'));

    t.diagnostic(
        `http/1.1 control: ${receiving} of ${STREAMS} EventSources got ` +
        `events (${Math.min(...counts.events.filter((n) => n > 0))}..` +
        `${Math.max(...counts.events)} each) over ${HTTP1_CONNECTIONS} ` +
        `connections while ${waiting.length} waited with none; gateway ` +
        `active streams ${active['/v1/ticks']}`);
  });
});
