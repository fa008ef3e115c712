// Fan-out in headless Chromium: two gateway replicas whose ticker route has
// `fanout`, behind Debian's nginx running the committed key-affine config
// (deploy/nginx/sse-gateway-fanout.conf), in front of the demo backend.
// Several pages, in two browsers, each open several EventSources on two
// symbols: the replicas hold one upstream call per symbol in all. The busiest
// replica is SIGKILLed; every page's EventSources reconnect by themselves
// (Last-Event-ID) through nginx to the other replica, and each one's ticks
// run on with nothing lost or duplicated.

'use strict';

const assert = require('node:assert/strict');
const http = require('node:http');
const path = require('node:path');
const { after, before, describe, test } = require('node:test');
const harness = require('./harness');

const { PATIENCE_MS } = harness;
const SITE = path.resolve(__dirname, '../../deploy/nginx/sse-gateway-fanout.conf');
const TARGET = 200;  // Every EventSource closes at this seq.

// The value of `series` in replica `port`'s /metrics (-1 if unreadable).
function metric(port, series) {
  return new Promise((resolve) => {
    http.get({ host: '127.0.0.1', port, path: '/metrics' }, (response) => {
      let body = '';
      response.on('data', (chunk) => { body += chunk; });
      response.on('end', () => {
        const line = body.split('\n').find((l) => l.startsWith(series + ' '));
        resolve(line ? Number(line.slice(series.length + 1)) : -1);
      });
    }).on('error', () => resolve(-1));
  });
}

// Evaluated in a page: opens one EventSource per url and records each one's
// ticks in window.sses[i] (closing it at `closeAtId`).
function openSources({ urls, closeAtId }) {
  window.sses = urls.map((url) => {
    const record = { url, events: [], errors: 0, opens: 0, closed: false };
    const source = new EventSource(url);
    source.addEventListener('tick', (event) => {
      record.events.push({ id: event.lastEventId, data: event.data });
      if (event.lastEventId === closeAtId) {
        source.close();
        record.closed = true;
      }
    });
    source.onopen = () => { record.opens += 1; };
    source.onerror = () => { record.errors += 1; };
    return record;
  });
}

describe('fan-out behind nginx (demo ticker, two replicas)', () => {
  const browsers = [];
  const replicas = [];
  let nginx;

  before(async () => {
    const backend = await harness.startDemoBackend();
    const configFile = harness.writeConfig({
      listen: '127.0.0.1:0',
      backend: `127.0.0.1:${backend.port}`,
      descriptor_sets: [process.env.TICKER_DESCRIPTORS],
      index_page: harness.writeBlankPage(),
      access_log: 'off',
      routes: [{
        path: '/v1/ticks',
        method: 'demo.v1.Ticker/Watch',
        event: 'tick',
        id_field: 'seq',
        resume_field: 'after_seq',
        retry_ms: 200,
        fanout: { replay_events: 1000, linger_ms: 60000 },
      }],
    });
    for (let i = 0; i < 2; ++i) {
      replicas.push(await harness.startGateway(configFile));
    }
    nginx = await harness.startNginx(SITE, replicas.map((r) => r.port));
    // Two browsers: each keeps under HTTP/1.1's six connections per origin.
    for (let i = 0; i < 2; ++i) browsers.push(await harness.launchBrowser());
  });

  after(async () => {
    for (const browser of browsers) await browser.close();
    await harness.stopAll();
  });

  test('one call per symbol; a replica killed, every page resumes ' +
       'with nothing lost or duplicated', async (t) => {
    const urls = ['/v1/ticks?symbol=ACME&interval_ms=25&count=0',
                  '/v1/ticks?symbol=BOLT&interval_ms=25&count=0'];
    const pages = [];
    for (const browser of [browsers[0], browsers[0], browsers[1]]) {
      const page = await browser.newPage();
      await page.goto(`http://127.0.0.1:${nginx.port}/`);
      await page.evaluate(openSources, { urls, closeAtId: String(TARGET) });
      pages.push(page);
    }
    for (const page of pages) {
      await page.waitForFunction(
          () => window.sses.every((s) => s.events.length >= 5), null,
          { timeout: PATIENCE_MS });
    }
    const active = '{route="/v1/ticks"}';
    const open = await Promise.all(replicas.map(
        (r) => metric(r.port, `sse_gateway_active_streams${active}`)));
    const calls = await Promise.all(replicas.map(
        (r) => metric(r.port, `sse_gateway_shared_calls_open${active}`)));
    t.diagnostic(`streams per replica: ${open}; shared calls: ${calls}`);
    assert.equal(open[0] + open[1], 6);
    assert.equal(calls[0] + calls[1], 2, 'one upstream call per symbol');

    const victim = open[1] > open[0] ? 1 : 0;
    await replicas[victim].kill();
    for (const page of pages) {
      await page.waitForFunction(
          () => window.sses.every((s) => s.closed), null,
          { timeout: 4 * PATIENCE_MS });
    }
    let moved = 0;
    for (const page of pages) {
      const records = await page.evaluate(() => window.sses);
      for (const record of records) {
        const seqs = record.events.map((e) => Number(e.id));
        const first = seqs[0];
        const expected = Array.from({ length: TARGET - first + 1 },
                                    (_, i) => first + i);
        const distinct = new Set(seqs);
        t.diagnostic(`${record.url}: ticks ${first}..${TARGET}, ` +
                     `${record.opens} open(s), ` +
                     `lost=${expected.length - distinct.size} ` +
                     `duplicated=${seqs.length - distinct.size}`);
        assert.deepEqual(seqs, expected, 'nothing lost or duplicated');
        if (record.opens > 1) ++moved;
        for (const event of record.events) {
          const tick = JSON.parse(event.data);
          assert.equal(tick.seq, event.id);
        }
      }
      await page.close();
    }
    assert.equal(moved, open[victim], 'the killed replica\'s streams moved');
    const survivor = replicas[1 - victim];
    assert.equal(
        await metric(survivor.port, `sse_gateway_shared_calls_open${active}`),
        2, 'the moved pages share one call per symbol on the survivor');
  });
});
