// EventSource in headless Chromium against the real gateway in front of the
// demo.v1.Ticker backend (//examples:demo_backend): the events a page sees
// (lastEventId, custom type, proto3 JSON data, the final `end`), and a
// gateway killed with SIGKILL mid-stream and started again on the same port,
// after which the page's own EventSource resumes with Last-Event-ID with no
// event lost and none duplicated.

'use strict';

const assert = require('node:assert/strict');
const { after, before, describe, test } = require('node:test');
const harness = require('./harness');

const { PATIENCE_MS } = harness;

describe('EventSource through the gateway (demo ticker)', () => {
  let browser;
  let backend;
  let configFile;

  before(async () => {
    backend = await harness.startDemoBackend();
    configFile = harness.writeConfig({
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
        retry_ms: 200,  // Reconnect fast after the gateway restart.
      }],
    });
    browser = await harness.launchBrowser();
  });

  after(async () => {
    if (browser) await browser.close();
    await harness.stopAll();
  });

  test('a page sees each tick with its id, type and JSON, then end',
       async (t) => {
    const gateway = await harness.startGateway(configFile);
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${gateway.port}/`);
    const count = 5;
    const startedAt = Date.now();
    await page.evaluate(harness.openRecordedEventSource, {
      url: `/v1/ticks?symbol=ACME&interval_ms=20&count=${count}`,
      types: ['tick', 'end', 'message'],
    });
    await page.waitForFunction(() => window.sse.closed, null,
                               { timeout: PATIENCE_MS });
    const record = await page.evaluate(() => window.sse);
    await page.close();
    await gateway.stop();

    assert.deepEqual(record.errors, []);
    assert.equal(record.opens, 1);
    assert.deepEqual(record.events.map((e) => e.type),
                     [...Array(count).fill('tick'), 'end']);
    const ticks = record.events.slice(0, count);
    ticks.forEach((event, i) => {
      const seq = i + 1;
      assert.equal(event.id, String(seq));
      const tick = JSON.parse(event.data);
      assert.deepEqual(Object.keys(tick).sort(),
                       ['price', 'seq', 'symbol', 'time']);
      assert.equal(tick.seq, String(seq));  // uint64: a JSON string.
      assert.equal(tick.symbol, 'ACME');
      assert.equal(typeof tick.price, 'number');
      assert.ok(Number.isFinite(tick.price) && tick.price > 0, event.data);
      assert.match(tick.time,
                   /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
      const sentAt = Date.parse(tick.time);
      assert.ok(sentAt >= startedAt - 60000 && sentAt <= Date.now() + 60000,
                `tick time ${tick.time} is not now`);
    });
    const end = record.events[count];
    assert.equal(end.id, String(count));  // `end` has no id of its own.
    assert.deepEqual(JSON.parse(end.data), { code: 0, message: '' });
    t.diagnostic(`events: ${count} ticks with ids 1..${count}, then end`);
  });

  test('SIGKILL of the gateway mid-stream: the page resumes with no gap ' +
       'and no duplicate', async (t) => {
    let gateway = await harness.startGateway(configFile);
    const port = gateway.port;
    const page = await browser.newPage();
    const lastEventIds = [];  // Last-Event-ID of each stream request.
    page.on('request', async (request) => {
      if (!request.url().includes('/v1/ticks?')) return;
      const headers = await request.allHeaders();
      lastEventIds.push(headers['last-event-id'] ?? null);
    });
    await page.goto(`http://127.0.0.1:${port}/`);
    const target = 60;
    await page.evaluate(harness.openRecordedEventSource, {
      url: '/v1/ticks?symbol=ACME&interval_ms=25&count=0',
      types: ['tick', 'end', 'message'],
      closeAtId: String(target),
    });
    await page.waitForFunction(() => window.sse.events.length >= 10, null,
                               { timeout: PATIENCE_MS });

    const errorsBeforeKill = await page.evaluate(() => window.sse.errors);
    await gateway.kill();
    // The page notices the dead connection before the gateway is back.
    await page.waitForFunction(
        (before) => window.sse.errors.length > before, errorsBeforeKill.length,
        { timeout: PATIENCE_MS });
    const seenBeforeRestart =
        await page.evaluate(() => window.sse.events.length);
    gateway = await harness.startGateway(configFile, port);
    assert.equal(gateway.port, port);

    await page.waitForFunction(() => window.sse.closed, null,
                               { timeout: PATIENCE_MS });
    const record = await page.evaluate(() => window.sse);

    const seqs = record.events.map((e) => Number(e.id));
    const distinct = new Set(seqs);
    const lost = target - [...distinct].filter((s) => s >= 1 && s <= target)
                              .length;
    const duplicated = seqs.length - distinct.size;
    t.diagnostic(`gateway restart: ${seqs.length} events, ` +
                 `${seenBeforeRestart} before the SIGKILL, ` +
                 `${record.errors.length} error(s)/reconnect(s) ` +
                 `(${errorsBeforeKill.length} before the kill: ` +
                 `${JSON.stringify(errorsBeforeKill)}), ` +
                 `lost=${lost} duplicated=${duplicated}`);
    assert.equal(lost, 0, `lost events; seqs: ${seqs}`);
    assert.equal(duplicated, 0, `duplicated events; seqs: ${seqs}`);
    assert.deepEqual(seqs, Array.from({ length: target }, (_, i) => i + 1));
    assert.ok(record.events.every((e) => e.type === 'tick'));
    assert.ok(record.errors.length >= 1);
    assert.ok(record.opens >= 2, `opens: ${record.opens}`);
    // The first request had no Last-Event-ID; the one that resumed carried
    // the id of the last event seen before the kill.
    assert.equal(lastEventIds[0], null);
    assert.equal(lastEventIds[lastEventIds.length - 1],
                 String(seenBeforeRestart));
    assert.equal(record.errors[errorsBeforeKill.length].lastId,
                 String(seenBeforeRestart));

    // The resumed events are the very ones an unbroken stream carries: the
    // demo's prices are a deterministic function of (symbol, seq).
    await page.evaluate(harness.openRecordedEventSource, {
      url: `/v1/ticks?symbol=ACME&interval_ms=10&count=${target}`,
      types: ['tick', 'end'],
    });
    await page.waitForFunction(() => window.sse.closed, null,
                               { timeout: PATIENCE_MS });
    const reference = await page.evaluate(() => window.sse);
    await page.close();
    const prices = (events) => events.filter((e) => e.type === 'tick')
                                   .map((e) => JSON.parse(e.data).price);
    assert.deepEqual(prices(record.events), prices(reference.events));
    await gateway.stop();
  });
});
