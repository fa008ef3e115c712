// SSE injection seen from a real browser: the testing backend
// (//tests:test_backend_server) puts attacker-chosen bytes into the SSE id
// (id_field: key, key = key_prefix + seq) and into string fields of the JSON
// data. Whatever CR, LF, NUL or "\n\ndata: forged" they hold, Chromium's
// EventSource must dispatch no extra event, no forged type and no forged id.

'use strict';

const assert = require('node:assert/strict');
const { after, before, describe, test } = require('node:test');
const harness = require('./harness');

const { PATIENCE_MS } = harness;

// Would inject a field, an id or an event if written unescaped.
const HOSTILE = [
  '\r',
  '\n',
  '\r\n',
  'nul\u0000byte',
  '\n\ndata: forged\n\n',
  '\r\rid: x\r\r',
  'x\r\nevent: forged\r\nid: forged\r\ndata: forged\r\n\r\n',
  '\n\nevent: x\ndata: x\n\n',
];
// Must reach the page unchanged inside the JSON data.
const HOSTILE_DATA = [
  ...HOSTILE,
  'line1\nline2\rline3\r\nline4',
  'sep\u2028para\u2029',
  '\u0000\u0000\u0000',
  ':comment\n\nretry: 1\n\n',
];
// Every type an injection could dispatch, besides the real ones.
const TYPES = ['tick', 'end', 'message', 'forged', 'x'];

describe('SSE injection in the browser', () => {
  let browser;
  let page;

  before(async () => {
    const backend = await harness.startTestBackend();
    const gateway = await harness.startGateway(harness.writeConfig({
      listen: '127.0.0.1:0',
      backend: `127.0.0.1:${backend.port}`,
      descriptor_sets: [process.env.TESTING_DESCRIPTORS],
      index_page: harness.writeBlankPage(),
      access_log: 'off',
      routes: [
        {
          path: '/keyed',
          method: 'testing.v1.TestService/Stream',
          event: 'tick',
          id_field: 'key',
          retry_ms: 100,
        },
        {
          path: '/seq',
          method: 'testing.v1.TestService/Stream',
          event: 'tick',
          id_field: 'seq',
        },
      ],
    }));
    browser = await harness.launchBrowser();
    page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${gateway.port}/`);
  });

  after(async () => {
    if (browser) await browser.close();
    await harness.stopAll();
  });

  // Runs an EventSource on `url` (relative to the gateway) in the page until
  // it closes (after `end`) or, with `untilError`, errs; returns the record.
  async function record(url, untilError) {
    await page.evaluate(harness.openRecordedEventSource, { url, types: TYPES });
    await page.waitForFunction(
        (error) => (error ? window.sse.errors.length > 0 : window.sse.closed),
        untilError, { timeout: PATIENCE_MS });
    await page.evaluate(() => window.closeSse());
    return page.evaluate(() => window.sse);
  }

  test('hostile ids: no event, no forged id or type', async (t) => {
    for (const prefix of HOSTILE) {
      const label = JSON.stringify(prefix);
      const sse = await record(
          `/keyed?count=3&key_prefix=${encodeURIComponent(prefix)}`, true);
      // The gateway refuses the id with a 500 before any event, so
      // EventSource fails the connection: CLOSED, nothing dispatched.
      assert.deepEqual(sse.events, [], label);
      assert.equal(sse.errors[0].readyState, 2 /* CLOSED */, label);
      assert.equal(sse.opens, 0, label);
    }
    t.diagnostic(`injection: ${HOSTILE.length} hostile ids, 0 events ` +
                 'dispatched, connection failed each time');
  });

  test('hostile strings stay inside the JSON data of their event',
       async (t) => {
    const count = 3;
    for (const text of HOSTILE_DATA) {
      const label = JSON.stringify(text);
      const value = encodeURIComponent(text);
      const sse = await record(
          `/seq?count=${count}&key_prefix=${value}&echo.a_string=${value}` +
          `&fail_code=9&fail_message=${value}`, false);
      assert.deepEqual(sse.errors, [], label);
      assert.deepEqual(sse.events.map((e) => `${e.type}:${e.id}`),
                       ['tick:1', 'tick:2', 'tick:3', 'end:3'], label);
      sse.events.slice(0, count).forEach((event, i) => {
        const message = JSON.parse(event.data);
        assert.equal(message.seq, String(i + 1), label);
        assert.equal(message.key, `${text}${i + 1}`, label);
        assert.equal(message.request.echo.aString, text, label);
        assert.equal(message.request.failMessage, text, label);
      });
      assert.deepEqual(JSON.parse(sse.events[count].data),
                       { code: 9, message: text }, label);
    }
    t.diagnostic(`injection: ${HOSTILE_DATA.length} hostile strings, each ` +
                 'exactly 3 ticks + end with the strings intact');
  });
});
