/**
 * Static files over HTTP (libwebsockets' `serve_http_file`, plus mounts with safe path resolution).
 *
 * Policy for request paths, decided once here:
 * - 400 Bad Request: a path that is malformed or tries to climb: not starting with '/', invalid percent-encoding,
 *   a '.' or '..' segment (raw or encoded as `%2e`), an encoded '/' (`%2f`), a backslash (raw or `%5c`), a NUL
 *   byte (raw or `%00`). Such paths are refused, never normalized into something else.
 * - 404 Not Found: anything missing, anything that is not a regular file or a directory with an `index.html`,
 *   and anything whose real path (symlinks resolved) is outside the mount's real root: a symlink out of the tree
 *   answers exactly like a missing file.
 * - 405 Method Not Allowed (with `Allow: GET, HEAD`) for every other method on a mounted path.
 * Files are streamed from an open descriptor (never read whole), `Last-Modified` is sent and a matching
 * `If-Modified-Since` answers 304.
 */
import { constants, createReadStream, type Stats } from 'node:fs';
import { type FileHandle, open, realpath } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, resolve, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';

/** URL prefix → directory, e.g. `{ '/': 'public', '/assets/': 'build/assets' }`. The longest prefix wins. */
export type Mounts = Readonly<Record<string, string>>;

/** Answers a request if its path is under one of the mounts (returns true), or leaves it alone (false). */
export type StaticHandler = (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;

const MIME_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.htm': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
  '.md': 'text/markdown; charset=utf-8',
  '.xml': 'application/xml',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.avif': 'image/avif',
  '.ico': 'image/x-icon',
  '.wasm': 'application/wasm',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.ttf': 'font/ttf',
  '.otf': 'font/otf',
  '.mp3': 'audio/mpeg',
  '.ogg': 'audio/ogg',
  '.wav': 'audio/wav',
  '.mp4': 'video/mp4',
  '.webm': 'video/webm',
  '.pdf': 'application/pdf',
  '.zip': 'application/zip',
  '.gz': 'application/gzip',
};
const DEFAULT_TYPE = 'application/octet-stream';
const INDEX_FILE = 'index.html';
const ALLOWED_METHODS = 'GET, HEAD';

/** The content type for a file name, by extension (`application/octet-stream` when unknown). */
export function contentTypeFor(fileName: string): string {
  return MIME_TYPES[extname(fileName).toLowerCase()] ?? DEFAULT_TYPE;
}

/** The outcome of resolving a URL path against a mount: a file path to try, a redirect, or an HTTP error. */
type Resolution = { kind: 'path'; path: string } | { kind: 'status'; status: 400 | 404 };

/**
 * Splits the path part of a request target into decoded segments, or null when it must be refused (see the
 * policy above). Empty segments (`//`) are dropped: they cannot climb.
 */
export function decodePathSegments(target: string): string[] | null {
  const end = target.search(/[?#]/);
  const raw = end === -1 ? target : target.slice(0, end);
  if (!raw.startsWith('/') || raw.includes('\\') || raw.includes('\0')) return null;
  const segments: string[] = [];
  for (const piece of raw.split('/')) {
    let segment: string;
    try {
      segment = decodeURIComponent(piece);
    } catch {
      return null;
    }
    if (segment === '') continue;
    if (segment === '.' || segment === '..') return null;
    if (segment.includes('/') || segment.includes('\\') || segment.includes('\0')) return null;
    segments.push(segment);
  }
  return segments;
}

interface Mount {
  /** URL prefix without a trailing '/', '' for the root. */
  readonly prefix: string;
  readonly root: string;
  /** The root with symlinks resolved, computed on first use. */
  realRoot: Promise<string> | null;
}

function normalizePrefix(prefix: string): string {
  const trimmed = prefix.replace(/\/+$/, '');
  return trimmed === '' ? '' : trimmed.startsWith('/') ? trimmed : `/${trimmed}`;
}

/** The mount whose prefix is the longest whole-segment prefix of `target`'s path, with the rest of the path. */
function findMount(mounts: readonly Mount[], target: string): { mount: Mount; rest: string } | null {
  for (const mount of mounts) {
    if (mount.prefix === '') return { mount, rest: target };
    if (!target.startsWith(mount.prefix)) continue;
    const next = target.charAt(mount.prefix.length);
    if (next === '' || next === '/' || next === '?' || next === '#') {
      return { mount, rest: `/${target.slice(mount.prefix.length).replace(/^\//, '')}` };
    }
  }
  return null;
}

function isInside(root: string, path: string): boolean {
  return path === root || path.startsWith(root.endsWith(sep) ? root : root + sep);
}

async function resolveInMount(mount: Mount, segments: readonly string[]): Promise<Resolution> {
  const candidate = join(mount.root, ...segments);
  if (!isInside(mount.root, candidate)) return { kind: 'status', status: 400 };
  mount.realRoot ??= realpath(mount.root);
  try {
    const [realRoot, real] = await Promise.all([mount.realRoot, realpath(candidate)]);
    // A symlink may point anywhere; only what really lives under the root is served.
    if (!isInside(realRoot, real)) return { kind: 'status', status: 404 };
    return { kind: 'path', path: real };
  } catch {
    return { kind: 'status', status: 404 };
  }
}

/**
 * A handler serving files under `mounts` (a single directory means `{ '/': dir }`). It answers every request
 * whose path falls under a mount (with the file, 304, 400, 404 or 405) and returns false for the others.
 */
export function serveStatic(mounts: string | Mounts): StaticHandler {
  const table: Mount[] = Object.entries(typeof mounts === 'string' ? { '/': mounts } : mounts)
    .map(([prefix, dir]) => ({ prefix: normalizePrefix(prefix), root: resolve(dir), realRoot: null }))
    .sort((a, b) => b.prefix.length - a.prefix.length);
  return async (req, res) => {
    const target = req.url ?? '/';
    const found = findMount(table, target);
    if (found === null) return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendStatus(res, 405, { Allow: ALLOWED_METHODS });
      return true;
    }
    const segments = decodePathSegments(found.rest);
    if (segments === null) {
      sendStatus(res, 400);
      return true;
    }
    const resolution = await resolveInMount(found.mount, segments);
    if (resolution.kind === 'status') sendStatus(res, resolution.status);
    else await serveResolved(req, res, resolution.path, found.mount.prefix, segments, target);
    return true;
  };
}

/** Serves a resolved path: a file, a directory's index file, or a redirect to the directory's '/' form. */
async function serveResolved(
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  prefix: string,
  segments: readonly string[],
  target: string,
): Promise<void> {
  const file = await openRegular(path);
  if (file === 'directory') {
    const pathPart = target.replace(/[?#].*$/, '');
    if (!pathPart.endsWith('/')) {
      // Relative links in the index file only work from the '/' form. The location is rebuilt from the
      // decoded segments, so a target like '//host' can never become a protocol-relative redirect.
      const location = `${prefix}/${segments.map(encodeURIComponent).join('/')}/`.replace(/\/+/g, '/');
      sendStatus(res, 301, { Location: location });
      return;
    }
    const index = await openRegular(join(path, INDEX_FILE));
    if (index === null || index === 'directory') return sendStatus(res, 404);
    return sendFile(req, res, index, contentTypeFor(INDEX_FILE));
  }
  if (file === null) return sendStatus(res, 404);
  return sendFile(req, res, file, contentTypeFor(path));
}

interface OpenFile {
  handle: FileHandle;
  stats: Stats;
}

/**
 * Opens `path` if it is a regular file, 'directory', or null. Resolved client paths are opened with
 * O_NOFOLLOW, so a final component swapped for a symlink after the realpath check is not followed.
 */
async function openRegular(path: string, follow = false): Promise<OpenFile | 'directory' | null> {
  let handle: FileHandle;
  try {
    handle = await open(path, constants.O_RDONLY | (follow ? 0 : constants.O_NOFOLLOW));
  } catch {
    return null;
  }
  try {
    const stats = await handle.stat();
    if (stats.isFile()) return { handle, stats };
    await handle.close();
    return stats.isDirectory() ? 'directory' : null;
  } catch {
    await handle.close().catch(() => {});
    return null;
  }
}

/** HTTP dates have whole seconds; a file is "not modified" when its mtime (to the second) is not after the date. */
function notModified(req: IncomingMessage, stats: Stats): boolean {
  const since = req.headers['if-modified-since'];
  if (since === undefined || req.headers['if-none-match'] !== undefined) return false;
  const date = Date.parse(since);
  return !Number.isNaN(date) && Math.floor(stats.mtimeMs / 1000) * 1000 <= date;
}

async function sendFile(
  req: IncomingMessage,
  res: ServerResponse,
  file: OpenFile,
  type: string,
): Promise<void> {
  const { handle, stats } = file;
  const lastModified = stats.mtime.toUTCString();
  if (notModified(req, stats)) {
    await handle.close();
    res.writeHead(304, { 'Last-Modified': lastModified });
    res.end();
    return;
  }
  res.writeHead(200, {
    'Content-Type': type,
    'Content-Length': stats.size,
    'Last-Modified': lastModified,
    'X-Content-Type-Options': 'nosniff',
  });
  if (req.method === 'HEAD' || stats.size === 0) {
    await handle.close();
    res.end();
    return;
  }
  // The stream reads in chunks and waits for the response to drain: memory stays flat for large files.
  const stream = createReadStream('', { fd: handle, autoClose: true });
  try {
    await pipeline(stream, res);
  } catch {
    // The client went away or the read failed after the head was sent: nothing left to tell anyone.
    res.destroy();
  }
}

function sendStatus(res: ServerResponse, status: number, headers: Record<string, string> = {}): void {
  const body = `${status} ${statusText(status)}\n`;
  res.writeHead(status, {
    ...headers,
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
  });
  res.end(res.req?.method === 'HEAD' ? undefined : body);
}

function statusText(status: number): string {
  const texts: Record<number, string> = {
    301: 'Moved Permanently',
    400: 'Bad Request',
    404: 'Not Found',
    405: 'Method Not Allowed',
  };
  return texts[status] ?? 'Error';
}

/**
 * Serves one file as the whole answer (libwebsockets' `serve_http_file`): 200 with `contentType` (by extension
 * when omitted), `Last-Modified` and a streamed body; 304 for a matching `If-Modified-Since`; 404 when the
 * file cannot be opened. No path checks: `path` is the application's, not the client's.
 */
export async function serveHttpFile(res: ServerResponse, path: string, type?: string): Promise<void> {
  const file = await openRegular(path, true);
  if (file === null || file === 'directory') return sendStatus(res, 404);
  return sendFile(res.req, res, file, type ?? contentTypeFor(path));
}
