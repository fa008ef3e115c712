// The multiplex endpoint in headless Chromium: one page opens, at once, one
// multiplexed EventSource carrying 10 subscriptions (two routes of the demo
// ticker, several symbols and intervals) and 5 ordinary EventSources: 15
// streams over Chromium's six HTTP/1.1 connections per origin. The gateway is
// killed with SIGKILL mid-stream and started again on the same port; every
// EventSource reconnects by itself with its Last-Event-ID (for the
// multiplexed one a compound id, core/compound_event_id.h) and each of the 15
// streams runs on after its own last event, with nothing lost or duplicated.

'use strict';

const assert = require('node:assert/strict');
const http = require('node:http');
const { after, before, describe, test } = require('node:test');
const harness = require('./harness');

const { PATIENCE_MS } = harness;
const MULTIPLEX_PATH = '/v1/multiplex';
const BEFORE_KILL = 5;     // Events every stream has before the kill.
const AFTER_RESTART = 10;  // Events every stream gets after the restart.

// The multiplexed EventSource's subscriptions: name -> route path and query.
// Every one is endless (count=0), on its own symbol or interval.
const SUBSCRIPTIONS = [
  ['acme', '/v1/ticks?symbol=ACME&interval_ms=20&count=0'],
  ['bolt', '/v1/ticks?symbol=BOLT&interval_ms=25&count=0'],
  ['CROW', '/v1/ticks?symbol=CROW&interval_ms=30&count=0'],
  ['dune_4', '/v1/ticks?symbol=DUNE&interval_ms=35&count=0'],
  ['echo-5', '/v1/ticks?symbol=ECHO&interval_ms=40&count=0'],
  ['acme_slow', '/v1/ticks?symbol=ACME&interval_ms=60&count=0'],
  ['fern', '/v1/quotes?symbol=FERN&interval_ms=20&count=0'],
  ['gale', '/v1/quotes?symbol=GALE&interval_ms=45&count=0'],
  ['hive', '/v1/quotes?symbol=HIVE&interval_ms=50&count=0'],
  ['iris', '/v1/quotes?symbol=IRIS&interval_ms=30&count=0'],
].map(([name, target]) => ({
  name,
  target,
  symbol: target.match(/symbol=(\w+)/)[1],
}));

// The ordinary EventSources, each one stream of its own.
const PLAIN = [
  '/v1/ticks?symbol=ACME&interval_ms=25&count=0',
  '/v1/ticks?symbol=JADE&interval_ms=30&count=0',
  '/v1/ticks?symbol=KILN&interval_ms=40&count=0',
  '/v1/quotes?symbol=LOOM&interval_ms=35&count=0',
  '/v1/quotes?symbol=MOSS&interval_ms=20&count=0',
].map((url) => ({
  url,
  symbol: url.match(/symbol=(\w+)/)[1],
}));

const MULTIPLEX_URL = `${MULTIPLEX_PATH}?` + SUBSCRIPTIONS.map(
    ({ name, target }) => `${name}=${encodeURIComponent(target)}`).join('&');

// Streams the gateway on `port` holds open per route, from its /metrics
// (sse_gateway_active_streams), e.g. {'/v1/ticks': 9, ...}.
function activeStreams(port) {
  return new Promise((resolve, reject) => {
    const request = http.get({ host: '127.0.0.1', port, path: '/metrics' },
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

// What activeStreams() must say while every stream is open: the multiplexed
// response, and each subscription and ordinary EventSource on its route.
function expectedActive() {
  const active = { [MULTIPLEX_PATH]: 1, '/v1/ticks': 0, '/v1/quotes': 0 };
  for (const url of [...SUBSCRIPTIONS.map((s) => s.target),
                     ...PLAIN.map((p) => p.url)]) {
    active[url.split('?')[0]] += 1;
  }
  return active;
}

// The compound id fingerprint of `names`: FNV-1a (32 bits) of each name
// followed by one NUL byte, as 8 lower-case hex digits.
function fingerprint(names) {
  let hash = 0x811c9dc5;
  for (const name of names) {
    for (const byte of [...Buffer.from(name, 'utf8'), 0]) {
      hash = Math.imul(hash ^ byte, 0x01000193) >>> 0;
    }
  }
  return hash.toString(16).padStart(8, '0');
}

// The entries of compound id `id` ("1:<fingerprint>:<entry>,..."), or null.
function compoundEntries(id) {
  const match = /^1:([0-9a-f]{8}):(.*)$/.exec(id);
  if (!match) return null;
  return { fingerprint: match[1], entries: match[2].split(',') };
}

// Evaluated in the page: opens the multiplexed EventSource on `multiplex.url`
// (listening to every subscription's events, `.end` and `.gap` events, and
// the stream's own `end` and `message`) and one EventSource per url of
// `plain` (types `tick`, `quote`, `end`, `message`), all at once. Each
// source's record, in window.streams, keeps every event in arrival order
// with its type, lastEventId, data and the number of opens seen by then
// (1: the first connection), every error (with readyState and the
// lastEventId of the last event before it), and its opens.
// window.closeStreams() closes them all.
function openStreams({ multiplex, plain }) {
  const sources = [];
  const open = (url, types) => {
    const record = { url, events: [], errors: [], opens: 0, closed: false };
    const source = new EventSource(url);
    for (const type of types) {
      source.addEventListener(type, (event) => {
        record.events.push({ type: event.type, id: event.lastEventId,
                             data: event.data, conn: record.opens });
      });
    }
    source.onopen = () => { record.opens += 1; };
    source.onerror = () => {
      const last = record.events[record.events.length - 1];
      record.errors.push(
          { readyState: source.readyState, lastId: last ? last.id : '' });
    };
    sources.push({ source, record });
    return record;
  };
  const multiplexTypes = ['end', 'message'];
  for (const name of multiplex.names) {
    multiplexTypes.push(name, `${name}.end`, `${name}.gap`);
  }
  window.streams = {
    multiplex: open(multiplex.url, multiplexTypes),
    plain: plain.map((url) => open(url, ['tick', 'quote', 'end', 'message'])),
  };
  window.closeStreams = () => {
    for (const { source, record } of sources) {
      source.close();
      record.closed = true;
    }
  };
}

// Evaluated in the page: the number of events of each of the 15 streams
// (each subscription's, then each ordinary EventSource's) and of errors of
// each of the 6 EventSources.
function countStreams(names) {
  const { multiplex, plain } = window.streams;
  return {
    events: [
      ...names.map((name) => multiplex.events.filter((e) => e.type === name)
                                             .length),
      ...plain.map((record) => record.events.length),
    ],
    errors: [multiplex.errors.length,
             ...plain.map((record) => record.errors.length)],
  };
}

describe('multiplexed EventSource through the gateway (demo ticker)', () => {
  let browser;
  let configFile;

  before(async () => {
    const backend = await harness.startDemoBackend();
    const route = (path, event) => ({
      path,
      method: 'demo.v1.Ticker/Watch',
      event,
      id_field: 'seq',
      resume_field: 'after_seq',
      retry_ms: 200,  // Reconnect fast after the gateway restart.
    });
    configFile = harness.writeConfig({
      listen: '127.0.0.1:0',
      backend: `127.0.0.1:${backend.port}`,
      descriptor_sets: [process.env.TICKER_DESCRIPTORS],
      index_page: harness.writeBlankPage(),
      access_log: 'stderr',  // Read back: the resumed multiplexed request.
      routes: [route('/v1/ticks', 'tick'),
               route('/v1/quotes', 'quote')],
      multiplex: { path: MULTIPLEX_PATH, max_subscriptions: 16 },
    });
    browser = await harness.launchBrowser();
  });

  after(async () => {
    if (browser) await browser.close();
    await harness.stopAll();
  });

  test('10 subscriptions and 5 EventSources, SIGKILL of the gateway: ' +
       'every stream resumes with nothing lost or duplicated', async (t) => {
    const names = SUBSCRIPTIONS.map((s) => s.name);
    let gateway = await harness.startGateway(configFile);
    const port = gateway.port;
    const page = await browser.newPage();
    // Every stream request the page makes, in order, with its Last-Event-ID
    // (filled in once read) and its response status (0: none).
    const requests = [];
    page.on('request', (request) => {
      const url = new URL(request.url());
      if (url.pathname === '/' || url.pathname === '/favicon.ico') return;
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
    await page.goto(`http://127.0.0.1:${port}/`);
    await page.evaluate(openStreams, {
      multiplex: { url: MULTIPLEX_URL, names },
      plain: PLAIN.map((p) => p.url),
    });
    await page.waitForFunction(
        ({ names, least }) => {
          const { multiplex, plain } = window.streams;
          return names.every((name) => multiplex.events.filter(
                                 (e) => e.type === name).length >= least) &&
                 plain.every((record) => record.events.length >= least);
        }, { names, least: BEFORE_KILL }, { timeout: PATIENCE_MS });

    // 15 streams, 16 responses (the multiplexed one's subscriptions are
    // counted on their routes), over 6 connections.
    assert.deepEqual(await activeStreams(port), expectedActive());
    const beforeKill = await page.evaluate(countStreams, names);
    await gateway.kill();
    // Every EventSource notices its dead connection before the gateway is
    // back; from then on no event can arrive until the restart.
    await page.waitForFunction(
        (errors) => {
          const { multiplex, plain } = window.streams;
          return multiplex.errors.length > errors[0] &&
                 plain.every((r, i) => r.errors.length > errors[i + 1]);
        }, beforeKill.errors, { timeout: PATIENCE_MS });
    const atRestart = await page.evaluate(countStreams, names);
    const requestsBeforeRestart = requests.length;
    gateway = await harness.startGateway(configFile, port);
    assert.equal(gateway.port, port);

    await page.waitForFunction(
        ({ names, least }) => {
          const { multiplex, plain } = window.streams;
          const counts = [
            ...names.map((name) => multiplex.events.filter(
                (e) => e.type === name).length),
            ...plain.map((record) => record.events.length),
          ];
          return counts.every((count, i) => count >= least[i]);
        },
        { names, least: atRestart.events.map((n) => n + AFTER_RESTART) },
        { timeout: 2 * PATIENCE_MS });
    // The restarted gateway holds them all again.
    assert.deepEqual(await activeStreams(port), expectedActive());
    await page.evaluate(() => window.closeStreams());
    const { multiplex, plain } = await page.evaluate(() => window.streams);
    await page.close();
    await gateway.stop();
    const restartedLog = gateway.log();

    // The multiplexed EventSource: only subscription events (no `.end`,
    // `.gap`, `end` or `message`), each a tick of its subscription's symbol,
    // with a compound id that says where every subscription stands.
    const unexpected = multiplex.events.filter((e) => !names.includes(e.type));
    assert.deepEqual(unexpected, [], 'only subscription events');
    const expectedFingerprint = fingerprint(names);
    const lastSeq = names.map(() => '~');  // Where each one stands.
    const perName = new Map(names.map((name) => [name, []]));
    let lastIdBeforeKill = '';
    multiplex.events.forEach((event, index) => {
      const i = names.indexOf(event.type);
      const tick = JSON.parse(event.data);
      assert.equal(tick.symbol, SUBSCRIPTIONS[i].symbol, event.data);
      perName.get(event.type).push({ seq: Number(tick.seq), conn: event.conn });
      lastSeq[i] = tick.seq;
      const compound = compoundEntries(event.id);
      assert.ok(compound, `event ${index}: not a compound id: ${event.id}`);
      assert.equal(compound.fingerprint, expectedFingerprint, event.id);
      assert.deepEqual(compound.entries, lastSeq,
                       `event ${index} (${event.type} seq ${tick.seq}): ` +
                       `compound id ${event.id}`);
      if (event.conn === 1) lastIdBeforeKill = event.id;
    });

    const summary = [];
    const checkStream = (label, seqs, countAtRestart) => {
      const values = seqs.map((s) => s.seq);
      const distinct = new Set(values);
      const last = Math.max(...values);
      const lost = last - [...distinct].filter((s) => s >= 1).length;
      const duplicated = values.length - distinct.size;
      const after = seqs.slice(countAtRestart);
      summary.push(`${label} ${values.length} (${after.length} after)`);
      assert.equal(lost, 0, `${label}: lost events; seqs: ${values}`);
      assert.equal(duplicated, 0,
                   `${label}: duplicated events; seqs: ${values}`);
      assert.deepEqual(values, Array.from({ length: values.length },
                                          (_, i) => i + 1),
                       `${label}: seqs in order from 1`);
      assert.ok(after.length >= AFTER_RESTART,
                `${label}: ${after.length} events after the restart`);
      // Before the kill: the first connection; after: a later one.
      assert.ok(seqs.slice(0, countAtRestart).every((s) => s.conn === 1),
                `${label}: events before the kill on the first connection`);
      assert.ok(after.every((s) => s.conn >= 2),
                `${label}: events after the restart on a new connection`);
    };
    names.forEach((name, i) => {
      checkStream(name, perName.get(name), atRestart.events[i]);
    });
    plain.forEach((record, k) => {
      const label = PLAIN[k].symbol;
      const seqs = record.events.map((event) => {
        assert.equal(event.type,
                     PLAIN[k].url.startsWith('/v1/ticks?') ? 'tick' : 'quote');
        const tick = JSON.parse(event.data);
        assert.equal(tick.symbol, PLAIN[k].symbol);
        assert.equal(event.id, tick.seq);
        return { seq: Number(tick.seq), conn: event.conn };
      });
      checkStream(label, seqs, atRestart.events[names.length + k]);
    });

    // Reconnects: every EventSource saw its connection fail and opened again;
    // the multiplexed one asked, with the compound id of the last event it
    // had, for every subscription after its own last event.
    assert.ok(multiplex.opens >= 2, `multiplex opens: ${multiplex.opens}`);
    assert.equal(multiplex.errors[beforeKill.errors[0]].lastId,
                 lastIdBeforeKill);
    // Attempts refused while the gateway was down (no response) are left
    // out: Chromium reports no wire headers for them.
    const forMultiplex = requests.filter((r) => r.url === MULTIPLEX_URL);
    assert.equal(forMultiplex[0].lastEventId, null, 'first request: no id');
    assert.equal(forMultiplex[0].status, 200);
    const resumed = forMultiplex.slice(1).filter((r) => r.status !== 0);
    assert.ok(resumed.length >= 1, 'the multiplexed EventSource reconnected: ' +
                                    JSON.stringify(forMultiplex));
    for (const request of resumed) {
      assert.equal(request.lastEventId, lastIdBeforeKill,
                   'every reconnect carries the last compound id: ' +
                   JSON.stringify(forMultiplex));
      assert.equal(request.status, 200, 'the reconnect was served');
      assert.ok(requests.indexOf(request) >= requestsBeforeRestart);
    }
    assert.deepEqual(compoundEntries(lastIdBeforeKill).entries,
                     names.map((name, i) => String(atRestart.events[i])),
                     'the compound id holds every subscription\'s last seq');
    plain.forEach((record, k) => {
      const at = atRestart.events[names.length + k];
      assert.ok(record.opens >= 2, `${PLAIN[k].url} opens: ${record.opens}`);
      assert.equal(record.errors[beforeKill.errors[k + 1]].lastId, String(at));
      const sent = requests.filter((r) => r.url === PLAIN[k].url);
      assert.equal(sent[0].lastEventId, null);
      const reconnects = sent.slice(1).filter((r) => r.status !== 0);
      assert.ok(reconnects.length >= 1, `${PLAIN[k].url} reconnected`);
      for (const request of reconnects) {
        assert.equal(request.lastEventId, String(at),
                     `${PLAIN[k].url}: Last-Event-ID of a reconnect`);
        assert.equal(request.status, 200);
      }
    });
    // The restarted gateway served the multiplexed request that resumed.
    const logged = restartedLog.split('\n').filter(
        (line) => line.includes(` route=${MULTIPLEX_PATH} `));
    const resumedLine = ` last_event_id=${lastIdBeforeKill}`;
    assert.ok(logged.some((line) => line.includes(' status=200 ') &&
                                    line.endsWith(resumedLine)),
              `access log of the restarted gateway:\n${logged.join('\n')}`);

    t.diagnostic(`gateway restart: 15 streams over ${1 + PLAIN.length} ` +
                 `EventSources; the multiplexed one reconnected ` +
                 `${forMultiplex.length - 1} time(s) (${resumed.length} ` +
                 `served) with Last-Event-ID ${lastIdBeforeKill}; events ` +
                 `(after the restart): ${summary.join(', ')}; ` +
                 'lost=0 duplicated=0');
  });
});
