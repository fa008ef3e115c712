// Cross-origin EventSource with credentials in headless Chromium: a page on
// an origin the gateway's `cors` allows reads the stream with
// {withCredentials: true} (and its cookie for the gateway's host is sent);
// the browser refuses the stream to an origin that is not listed, and to a
// credentialed request when the gateway does not allow credentials.

'use strict';

const assert = require('node:assert/strict');
const http = require('node:http');
const { after, before, describe, test } = require('node:test');
const harness = require('./harness');

const { PATIENCE_MS } = harness;

const TICKS = '/v1/ticks?symbol=ACME&interval_ms=20&count=3';

// The gateway's answer to a GET of `path` with `Origin: origin` (status and
// headers only; the stream is dropped).
function headFromNode(port, path, origin) {
  return new Promise((resolve, reject) => {
    const request = http.get(
        { host: '127.0.0.1', port, path, headers: { Origin: origin } },
        (response) => {
          resolve({ status: response.statusCode, headers: response.headers });
          response.destroy();
        });
    request.setTimeout(PATIENCE_MS, () => request.destroy(new Error('timeout')));
    request.on('error', reject);
  });
}

describe('cross-origin EventSource with credentials', () => {
  let browser;
  let allowed;      // Page server whose origin is in allowed_origins.
  let notAllowed;   // Page server on an origin that is not.
  let withCredentialsGateway;
  let withoutCredentialsGateway;

  before(async () => {
    const backend = await harness.startDemoBackend();
    allowed = await harness.startPageServer();
    notAllowed = await harness.startPageServer();
    const config = (allowCredentials) => harness.writeConfig({
      listen: '127.0.0.1:0',
      backend: `127.0.0.1:${backend.port}`,
      descriptor_sets: [process.env.TICKER_DESCRIPTORS],
      access_log: 'off',
      cors: {
        allowed_origins: [allowed.origin],
        allow_credentials: allowCredentials,
      },
      routes: [{
        path: '/v1/ticks',
        method: 'demo.v1.Ticker/Watch',
        event: 'tick',
        id_field: 'seq',
        resume_field: 'after_seq',
      }],
    });
    withCredentialsGateway = await harness.startGateway(config(true));
    withoutCredentialsGateway = await harness.startGateway(config(false));
    browser = await harness.launchBrowser();
    // A cookie of the gateway's host (127.0.0.1, any port).
    await browser.addCookies([{
      name: 'session', value: 'cookie-for-the-gateway',
      url: `http://127.0.0.1:${withCredentialsGateway.port}/`,
    }]);
  });

  after(async () => {
    if (browser) await browser.close();
    if (allowed) await allowed.close();
    if (notAllowed) await notAllowed.close();
    await harness.stopAll();
  });

  // Opens a page on `pageOrigin`, an EventSource on `gateway`'s ticks, and
  // waits for its end (or, with `expectRefusal`, its first error). Returns
  // the page's record and the headers of the stream request.
  async function readFrom(pageOrigin, gateway, withCredentials,
                          expectRefusal) {
    const page = await browser.newPage();
    const requests = [];
    page.on('request', (request) => {
      if (request.url().includes('/v1/ticks?')) {
        requests.push(request.allHeaders());
      }
    });
    await page.goto(`${pageOrigin}/`);
    await page.evaluate(harness.openRecordedEventSource, {
      url: `http://127.0.0.1:${gateway.port}${TICKS}`,
      withCredentials,
      types: ['tick', 'end', 'message'],
    });
    await page.waitForFunction(
        (refusal) => (refusal ? window.sse.errors.length > 0
                              : window.sse.closed),
        expectRefusal, { timeout: PATIENCE_MS });
    await page.evaluate(() => window.closeSse());
    const record = await page.evaluate(() => window.sse);
    await page.close();
    return { record, requestHeaders: await Promise.all(requests) };
  }

  function assertThreeTicksAndEnd(record) {
    assert.deepEqual(record.errors, []);
    assert.deepEqual(record.events.map((e) => `${e.type}:${e.id}`),
                     ['tick:1', 'tick:2', 'tick:3', 'end:3']);
    for (const event of record.events.slice(0, 3)) {
      const tick = JSON.parse(event.data);
      assert.equal(tick.seq, event.id);
      assert.equal(tick.symbol, 'ACME');
    }
    assert.equal(JSON.parse(record.events[3].data).code, 0);
  }

  test('an allowed origin reads the stream with credentials and its cookie',
       async (t) => {
    const { record, requestHeaders } = await readFrom(
        allowed.origin, withCredentialsGateway, true, false);
    assertThreeTicksAndEnd(record);
    assert.ok(requestHeaders.length >= 1);
    assert.equal(requestHeaders[0].origin, allowed.origin);
    assert.equal(requestHeaders[0].cookie, 'session=cookie-for-the-gateway');
    t.diagnostic(`cors: ${allowed.origin} read 3 ticks + end with ` +
                 'withCredentials, cookie sent');
  });

  test('an origin that is not allowed gets no event', async (t) => {
    // The gateway does serve it, without CORS headers...
    const head = await headFromNode(withCredentialsGateway.port, TICKS,
                                    notAllowed.origin);
    assert.equal(head.status, 200);
    assert.equal(head.headers['access-control-allow-origin'], undefined);
    // ...so the browser hides the stream from the page.
    const { record } = await readFrom(notAllowed.origin,
                                      withCredentialsGateway, true, true);
    assert.deepEqual(record.events, []);
    assert.ok(record.errors.length >= 1);
    t.diagnostic(`cors: ${notAllowed.origin} refused by the browser ` +
                 `(readyState ${record.errors[0].readyState} on error)`);
  });

  test('credentials are refused when the gateway does not allow them',
       async (t) => {
    // Without credentials the same page and gateway work...
    const plain = await readFrom(allowed.origin, withoutCredentialsGateway,
                                 false, false);
    assertThreeTicksAndEnd(plain.record);
    assert.equal(plain.requestHeaders[0].cookie, undefined);
    // ...with them, no Access-Control-Allow-Credentials: the browser refuses.
    const head = await headFromNode(withoutCredentialsGateway.port, TICKS,
                                    allowed.origin);
    assert.equal(head.headers['access-control-allow-origin'], allowed.origin);
    assert.equal(head.headers['access-control-allow-credentials'], undefined);
    const { record } = await readFrom(allowed.origin,
                                      withoutCredentialsGateway, true, true);
    assert.deepEqual(record.events, []);
    assert.ok(record.errors.length >= 1);
    t.diagnostic('cors: withCredentials refused without allow_credentials');
  });
});
