import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { decodePathSegments, serveHttpFile, serveStatic } from '../../src/service/static.ts';
import { httpRequest, rawRequest } from './raw-http.ts';

const SECRET = 'TOP-SECRET-OUTSIDE-THE-MOUNT';
const MTIME = new Date('2024-03-01T12:00:00Z');
const BIG_SIZE = 5 * 1024 * 1024 + 17;

let base: string;
let server: Server;
let port: number;

function bigContent(): Buffer {
  const big = Buffer.alloc(BIG_SIZE);
  for (let i = 0; i < big.length; i++) big[i] = (i * 31 + (i >>> 11)) & 0xff;
  return big;
}

before(async () => {
  base = mkdtempSync(join(tmpdir(), 'tslay-static-'));
  const root = join(base, 'root');
  mkdirSync(join(root, 'sub', 'deeper'), { recursive: true });
  mkdirSync(join(root, 'no-index'));
  writeFileSync(join(base, 'secret.txt'), SECRET);
  writeFileSync(join(root, 'index.html'), '<!doctype html><title>home</title>');
  writeFileSync(join(root, 'style.css'), 'body { color: red }');
  writeFileSync(join(root, 'app.js'), 'console.log(1)');
  writeFileSync(join(root, 'data.json'), '{"a":1}');
  writeFileSync(join(root, 'logo.png'), Buffer.from('89504e470d0a1a0a', 'hex'));
  writeFileSync(join(root, 'blob.unknownext'), 'x');
  writeFileSync(join(root, 'with space.txt'), 'spaced');
  writeFileSync(join(root, 'big.bin'), bigContent());
  writeFileSync(join(root, 'sub', 'index.html'), '<p>sub</p>');
  writeFileSync(join(root, 'sub', 'deeper', 'note.txt'), 'deep');
  utimesSync(join(root, 'style.css'), MTIME, MTIME);
  symlinkSync(join(base, 'secret.txt'), join(root, 'escape-file'));
  symlinkSync(base, join(root, 'escape-dir'));
  symlinkSync('../secret.txt', join(root, 'sub', 'relative-escape'));
  symlinkSync(join(root, 'sub', 'deeper', 'note.txt'), join(root, 'inside-link.txt'));
  writeFileSync(join(base, 'elsewhere.html'), '<p>chosen by the application</p>');

  const files = serveStatic({ '/': root, '/assets': join(root, 'sub') });
  const only = serveStatic({ '/static/': join(root, 'sub') });
  server = createServer(async (req, res) => {
    if (req.url === '/app-file') return serveHttpFile(res, join(base, 'elsewhere.html'), 'text/html');
    if (req.url === '/app-missing') return serveHttpFile(res, join(base, 'nope.html'));
    if (req.url?.startsWith('/only/')) {
      req.url = req.url.slice('/only'.length);
      if (!(await only(req, res))) res.writeHead(418).end();
      return;
    }
    await files(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

after(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(base, { recursive: true, force: true });
});

const get = (target: string, headers?: Record<string, string>) =>
  rawRequest(port, httpRequest('GET', target, headers));

describe('static files', () => {
  it('serves files with content types by extension', async () => {
    const cases: [string, string, string][] = [
      ['/style.css', 'text/css; charset=utf-8', 'body { color: red }'],
      ['/app.js', 'text/javascript; charset=utf-8', 'console.log(1)'],
      ['/data.json', 'application/json', '{"a":1}'],
      ['/index.html', 'text/html; charset=utf-8', '<!doctype html><title>home</title>'],
      ['/blob.unknownext', 'application/octet-stream', 'x'],
      ['/with%20space.txt', 'text/plain; charset=utf-8', 'spaced'],
      ['/inside-link.txt', 'text/plain; charset=utf-8', 'deep'],
    ];
    for (const [target, type, body] of cases) {
      const res = await get(target);
      assert.equal(res.status, 200, target);
      assert.equal(res.headers['content-type'], type, target);
      assert.equal(res.headers['content-length'], String(Buffer.byteLength(body)), target);
      assert.equal(res.body.toString(), body, target);
    }
    const png = await get('/logo.png');
    assert.equal(png.headers['content-type'], 'image/png');
    assert.equal(png.body.toString('hex'), '89504e470d0a1a0a');
  });

  it('serves index.html for a directory and redirects a directory without its slash', async () => {
    const root = await get('/');
    assert.equal(root.status, 200);
    assert.equal(root.body.toString(), '<!doctype html><title>home</title>');
    const sub = await get('/sub/?x=1');
    assert.equal(sub.body.toString(), '<p>sub</p>');
    const bare = await get('/sub?x=1');
    assert.equal(bare.status, 301);
    assert.equal(bare.headers.location, '/sub/');
    const noIndex = await get('/no-index/');
    assert.equal(noIndex.status, 404);
    const hostLike = await get('//evil.example');
    assert.equal(hostLike.status, 404, 'a "//host" path is a missing local directory, not a redirect');
  });

  it('uses the longest mount prefix, and only whole segments', async () => {
    const res = await get('/assets/deeper/note.txt');
    assert.equal(res.body.toString(), 'deep');
    assert.equal((await get('/assets/')).body.toString(), '<p>sub</p>');
    assert.equal((await get('/assetsdeeper/note.txt')).status, 404);
    assert.equal((await get('/only/elsewhere')).status, 418, 'no mount matches: the handler says false');
    assert.equal((await get('/only/static/deeper/note.txt')).body.toString(), 'deep');
  });

  it('answers HEAD with the headers and no body', async () => {
    const res = await rawRequest(port, httpRequest('HEAD', '/style.css'));
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-length'], '19');
    assert.equal(res.body.length, 0);
  });

  it('sends Last-Modified and answers a matching If-Modified-Since with 304', async () => {
    const first = await get('/style.css');
    assert.equal(first.headers['last-modified'], MTIME.toUTCString());
    const same = await get('/style.css', { 'If-Modified-Since': MTIME.toUTCString() });
    assert.equal(same.status, 304);
    assert.equal(same.body.length, 0);
    const later = await get('/style.css', {
      'If-Modified-Since': new Date(MTIME.getTime() + 60_000).toUTCString(),
    });
    assert.equal(later.status, 304);
    const earlier = await get('/style.css', {
      'If-Modified-Since': new Date(MTIME.getTime() - 1000).toUTCString(),
    });
    assert.equal(earlier.status, 200);
    assert.equal(earlier.body.toString(), 'body { color: red }');
    const garbage = await get('/style.css', { 'If-Modified-Since': 'not a date' });
    assert.equal(garbage.status, 200);
  });

  it('answers 404 for missing files', async () => {
    for (const target of ['/missing.txt', '/sub/missing/', '/style.css/extra']) {
      const res = await get(target);
      assert.equal(res.status, 404, target);
    }
  });

  it('answers other methods with 405 and Allow: GET, HEAD', async () => {
    for (const method of ['POST', 'PUT', 'DELETE', 'OPTIONS']) {
      const res = await rawRequest(port, httpRequest(method, '/style.css', { 'Content-Length': '0' }));
      assert.equal(res.status, 405, method);
      assert.equal(res.headers.allow, 'GET, HEAD', method);
    }
  });

  it('streams a large file intact', async () => {
    const res = await get('/big.bin');
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-length'], String(BIG_SIZE));
    const digest = (b: Buffer) => createHash('sha256').update(b).digest('hex');
    assert.equal(digest(res.body), digest(bigContent()));
  });

  it('serveHttpFile serves the application-chosen file, or 404', async () => {
    const res = await get('/app-file');
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'text/html');
    assert.equal(res.body.toString(), '<p>chosen by the application</p>');
    assert.equal((await get('/app-missing')).status, 404);
  });
});

describe('static files: paths that try to leave the mount', () => {
  // Malformed or climbing paths are refused with 400; paths that resolve outside (symlinks) look missing (404).
  const refused: [string, number][] = [
    ['/../secret.txt', 400],
    ['/sub/../../secret.txt', 400],
    ['/%2e%2e/secret.txt', 400],
    ['/%2E%2E/secret.txt', 400],
    ['/.%2e/secret.txt', 400],
    ['/sub/%2e%2e/%2e%2e/secret.txt', 400],
    ['/..%2fsecret.txt', 400],
    ['/sub/..%2F..%2Fsecret.txt', 400],
    ['/%2fetc%2fpasswd', 400],
    ['/..%5csecret.txt', 400],
    ['/%5c..%5csecret.txt', 400],
    ['/index.html%00.txt', 400],
    ['/%00', 400],
    ['/./index.html', 400],
    ['/%zz', 400],
    ['secret.txt', 400],
    ['http://localhost/../secret.txt', 400],
    ['/escape-file', 404],
    ['/escape-dir/secret.txt', 404],
    ['/escape-dir/', 404],
    ['/sub/relative-escape', 404],
    ['/assets/relative-escape', 404],
  ];
  for (const [target, status] of refused) {
    it(`refuses ${target} with ${status}`, async () => {
      const res = await get(target);
      assert.equal(res.status, status);
      assert.ok(!res.body.toString('latin1').includes(SECRET));
    });
  }

  it('refuses a raw backslash and a raw NUL byte in the request line', async () => {
    const requests = [
      httpRequest('GET', '/..\\secret.txt'),
      httpRequest('GET', '/sub\\..\\..\\secret.txt'),
      Buffer.concat([
        Buffer.from('GET /index.html'),
        Buffer.from([0]),
        Buffer.from(' HTTP/1.1\r\nHost: x\r\n\r\n'),
      ]),
    ];
    for (const request of requests) {
      const res = await rawRequest(port, request);
      assert.equal(res.status, 400, JSON.stringify(request.toString()));
      assert.ok(!res.body.toString('latin1').includes(SECRET));
    }
  });

  it('decodePathSegments keeps ordinary names and refuses the rest', () => {
    assert.deepEqual(decodePathSegments('/a/b%20c/d.txt?x=../..#..'), ['a', 'b c', 'd.txt']);
    assert.deepEqual(decodePathSegments('//a///b/'), ['a', 'b']);
    assert.deepEqual(decodePathSegments('/..a/b..'), ['..a', 'b..']);
    for (const bad of ['/a/../b', '/%2e', '/a%2fb', '/a%5Cb', '/a\\b', '/a%00', 'a/b', '/%E0%A4%A']) {
      assert.equal(decodePathSegments(bad), null, bad);
    }
  });
});
