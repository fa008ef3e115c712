// Shared helpers of the browser tests: start the gateway and the gRPC
// backends as processes on free ports, write gateway configs, serve plain
// pages from other origins, and launch headless Chromium through
// playwright-core. Every process started here is stopped by stopAll() (and
// killed when Node exits), so a failing test leaves nothing behind.
//
// The binaries and descriptor sets come from environment variables set by
// run.sh (SSE_GATEWAY_BIN, DEMO_BACKEND_BIN, TEST_BACKEND_BIN,
// TICKER_DESCRIPTORS, TESTING_DESCRIPTORS; CHROMIUM defaults to
// /usr/bin/chromium, OPENSSL to /usr/bin/openssl). Process logs go to files
// under WORK_DIR.

'use strict';

const { execFileSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { chromium } = require('playwright-core');

// Generous bound for anything that should take milliseconds.
const PATIENCE_MS = 30000;

function requireEnv(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run tests/browser/run.sh`);
  return value;
}

const workDir = fs.mkdtempSync(
  path.join(process.env.WORK_DIR || os.tmpdir(), 'browser-test-'));

const started = new Set();  // Children not yet seen exiting.

process.on('exit', () => {
  for (const child of started) child.kill('SIGKILL');
});

// A started process: its port (from its "listening on" line), its log file,
// and a promise of its exit.
class Process {
  constructor(name, child, logFile) {
    this.name = name;
    this.child = child;
    this.logFile = logFile;
    this.port = 0;
    this.exited = new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        started.delete(child);
        resolve({ code, signal });
      });
    });
  }

  log() {
    return fs.existsSync(this.logFile) ? fs.readFileSync(this.logFile, 'utf8')
                                       : '';
  }

  // SIGKILL, as a crash would; resolves once the process is gone.
  async kill() {
    this.child.kill('SIGKILL');
    await this.exited;
  }

  // SIGTERM, then SIGKILL after PATIENCE_MS.
  async stop() {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), PATIENCE_MS);
    await this.exited;
    clearTimeout(timer);
  }
}

let processCount = 0;

// Starts `binary args...`; resolves once a stdout line matches
// `listeningPattern` (whose first group is the port).
function startProcess(name, binary, args, listeningPattern) {
  const logFile = path.join(workDir, `${name}-${++processCount}.log`);
  const log = fs.createWriteStream(logFile);
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  started.add(child);
  const proc = new Process(name, child, logFile);
  child.stderr.pipe(log);
  return new Promise((resolve, reject) => {
    let pending = '';
    let ready = false;
    const timer = setTimeout(() => {
      reject(new Error(`${name} did not start within ${PATIENCE_MS} ms:\n` +
                       proc.log()));
    }, PATIENCE_MS);
    child.stdout.on('data', (chunk) => {
      log.write(chunk);
      if (ready) return;
      pending += chunk.toString();
      const match = pending.match(listeningPattern);
      if (match) {
        ready = true;
        clearTimeout(timer);
        proc.port = Number(match[1]);
        resolve(proc);
      }
    });
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('exit', (code, signal) => {
      if (ready) return;
      clearTimeout(timer);
      // Give the log stream a moment to take the last bytes.
      setImmediate(() => reject(new Error(
          `${name} exited (code ${code}, signal ${signal}) before ` +
          `listening:\n${proc.log()}`)));
    });
  });
}

// demo.v1.Ticker backend on a free port.
function startDemoBackend() {
  return startProcess('demo_backend', requireEnv('DEMO_BACKEND_BIN'),
                      ['--listen=127.0.0.1:0'],
                      /demo_backend listening on 127\.0\.0\.1:(\d+)/);
}

// testing.v1.TestService backend (tests/test_backend.h) on a free port.
function startTestBackend() {
  return startProcess('test_backend', requireEnv('TEST_BACKEND_BIN'), [],
                      /test_backend_server listening on 127\.0\.0\.1:(\d+)/);
}

let configCount = 0;

// Writes `config` (an object; JSON is valid YAML) to a file and returns its
// path. Relative paths in it resolve against WORK_DIR.
function writeConfig(config) {
  const file = path.join(workDir, `gateway-${++configCount}.yaml`);
  fs.writeFileSync(file, JSON.stringify(config, null, 2));
  return file;
}

// Writes a blank HTML page for the gateway's index_page; returns its path.
function writeBlankPage() {
  const file = path.join(workDir, 'blank.html');
  fs.writeFileSync(file, '<!DOCTYPE html><html><head><meta charset="utf-8">' +
                         '<title>sse-gateway browser test</title></head>' +
                         '<body></body></html>\n');
  return file;
}

// The gateway with `configFile`, on `port` (0: a free one); plain HTTP, or
// HTTPS when the config has `tls`.
function startGateway(configFile, port = 0) {
  return startProcess(
      'gateway', requireEnv('SSE_GATEWAY_BIN'),
      [`--config=${configFile}`, `--listen=127.0.0.1:${port}`],
      /sse_gateway listening on https?:\/\/127\.0\.0\.1:(\d+)\//);
}

let certificateCount = 0;

// A throwaway CA and a server certificate it signed for localhost and
// 127.0.0.1 (EC P-256, valid one day), made with OPENSSL (default
// /usr/bin/openssl) as tests/test_certificates.cc does. Returns the paths
// {dir, caCert, cert, key}: `tls: {cert_file: cert, key_file: key}`.
function makeTestCertificate() {
  const openssl = process.env.OPENSSL || '/usr/bin/openssl';
  const dir = path.join(workDir, `certs-${++certificateCount}`);
  fs.mkdirSync(dir);
  const file = (name) => path.join(dir, name);
  const run = (args) => execFileSync(openssl, args,
                                     { stdio: ['ignore', 'pipe', 'pipe'] });
  const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1'];
  run(['req', '-x509', '-nodes', '-days', '1', ...ecKey,
       '-keyout', file('ca.key'), '-out', file('ca.pem'),
       '-subj', '/CN=sse-gateway-browser-test-ca',
       '-addext', 'basicConstraints=critical,CA:TRUE',
       '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  fs.writeFileSync(file('server.ext'),
                   'basicConstraints=CA:FALSE\n' +
                   'keyUsage=digitalSignature,keyEncipherment\n' +
                   'extendedKeyUsage=serverAuth\n' +
                   'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  run(['req', '-new', '-nodes', ...ecKey, '-keyout', file('server.key'),
       '-out', file('server.csr'), '-subj', '/CN=localhost']);
  run(['x509', '-req', '-days', '1', '-in', file('server.csr'),
       '-CA', file('ca.pem'), '-CAkey', file('ca.key'), '-CAcreateserial',
       '-out', file('server.pem'), '-extfile', file('server.ext')]);
  return { dir, caCert: file('ca.pem'), cert: file('server.pem'),
           key: file('server.key') };
}

// A plain HTTP server on a free port of 127.0.0.1 answering every GET with
// a blank HTML page: another origin than the gateway's. Resolves to
// {origin, close()}.
function startPageServer() {
  const server = http.createServer((request, response) => {
    response.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    response.end('<!DOCTYPE html><html><body>other origin</body></html>\n');
  });
  return new Promise((resolve, reject) => {
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      resolve({
        origin: `http://127.0.0.1:${server.address().port}`,
        close: () => new Promise((done) => {
          server.closeAllConnections?.();
          server.close(() => done());
        }),
      });
    });
  });
}

// A TCP port of 127.0.0.1 that was free a moment ago.
function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

// Resolves with the status of GET http://127.0.0.1:`port``path` (0 when the
// connection fails).
function httpStatus(port, urlPath) {
  return new Promise((resolve) => {
    const request = http.get({ host: '127.0.0.1', port, path: urlPath },
                             (response) => {
      response.resume();
      resolve(response.statusCode);
    });
    request.setTimeout(5000, () => request.destroy());
    request.on('error', () => resolve(0));
  });
}

// Debian's nginx (NGINX, default /usr/sbin/nginx) running the committed site
// file `siteFile` (a path under deploy/nginx/) with only its `listen` port
// and the host:port of its upstream `server` lines replaced by
// 127.0.0.1:`replicaPorts[i]`, as tests/replica_failover_test.cc does. One
// process (no workers), files in the work directory. Resolves to a Process
// (with .port) once it proxies /healthz.
async function startNginx(siteFile, replicaPorts) {
  const nginx = process.env.NGINX || '/usr/sbin/nginx';
  const dir = fs.mkdtempSync(path.join(workDir, 'nginx-'));
  const port = await freePort();
  let servers = 0;
  const site = fs.readFileSync(siteFile, 'utf8').split('\n').map((line) => {
    if (/^\s*listen\s/.test(line)) return `    listen 127.0.0.1:${port};`;
    const server = line.match(/^(\s*)server\s+\S+:\d+(.*)$/);
    if (server) return `${server[1]}server 127.0.0.1:${replicaPorts[servers++]}${server[2]}`;
    return line;
  }).join('\n');
  if (servers !== replicaPorts.length) {
    throw new Error(`${siteFile}: ${servers} upstream servers, expected ` +
                    `${replicaPorts.length}`);
  }
  fs.writeFileSync(path.join(dir, 'site.conf'), site);
  const user = process.getuid && process.getuid() === 0 ? 'user root root;\n' : '';
  fs.writeFileSync(path.join(dir, 'nginx.conf'), `${user}events {}
http {
  access_log off;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  include ${dir}/site.conf;
}
`);
  const logFile = path.join(workDir, `${++processCount}-nginx.log`);
  const out = fs.openSync(logFile, 'a');
  const child = spawn(nginx, [
    '-p', dir, '-c', path.join(dir, 'nginx.conf'), '-e', 'stderr', '-g',
    `daemon off; master_process off; pid ${dir}/nginx.pid; ` +
    'error_log stderr notice;'], { stdio: ['ignore', out, out] });
  fs.closeSync(out);
  started.add(child);
  const proc = new Process('nginx', child, logFile);
  proc.port = port;
  const deadline = Date.now() + PATIENCE_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) break;
    if (await httpStatus(port, '/healthz') === 200) return proc;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`nginx did not serve on ${port}:\n${proc.log()}`);
}

// Headless Chromium with a fresh profile; close it with closeBrowser().
// `ignoreHTTPSErrors`: accept any certificate (a makeTestCertificate() one).
async function launchBrowser({ ignoreHTTPSErrors = false } = {}) {
  const userDataDir = fs.mkdtempSync(path.join(workDir, 'chromium-profile-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    ignoreHTTPSErrors,
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
      '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync',
    ],
    timeout: PATIENCE_MS,
  });
  context.setDefaultTimeout(PATIENCE_MS);
  return context;
}

async function stopAll() {
  await Promise.all([...started].map((child) => {
    return new Promise((resolve) => {
      child.once('exit', resolve);
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), PATIENCE_MS).unref();
    });
  }));
}

// Script evaluated in a page: opens an EventSource on `url` and records, in
// window.sse, every event of the listed `types` (in arrival order, with its
// type, lastEventId and data), every error (with the readyState and the
// id of the last event recorded before it), and
// closes the EventSource after an `end` event or an event whose
// lastEventId is `closeAtId`.
function openRecordedEventSource({ url, withCredentials, types, closeAtId }) {
  const source = new EventSource(url, { withCredentials: !!withCredentials });
  const record = { events: [], errors: [], opens: 0, closed: false };
  window.sse = record;
  const close = () => {
    source.close();
    record.closed = true;
  };
  for (const type of types) {
    source.addEventListener(type, (event) => {
      record.events.push(
          { type: event.type, id: event.lastEventId, data: event.data });
      if (type === 'end' || (closeAtId && event.lastEventId === closeAtId)) {
        close();
      }
    });
  }
  source.onopen = () => { record.opens += 1; };
  source.onerror = () => {
    const last = record.events[record.events.length - 1];
    record.errors.push(
        { readyState: source.readyState, lastId: last ? last.id : '' });
  };
  window.closeSse = close;
}

module.exports = {
  PATIENCE_MS,
  httpStatus,
  launchBrowser,
  makeTestCertificate,
  openRecordedEventSource,
  startDemoBackend,
  startGateway,
  startNginx,
  startPageServer,
  startTestBackend,
  stopAll,
  workDir,
  writeBlankPage,
  writeConfig,
};
