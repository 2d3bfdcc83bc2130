/**
 * Every core of a host: `runWorkers` runs N worker processes (node:cluster) that serve one port, and shares
 * their topics through cluster IPC (or through the backplane the application builds, Redis for several hosts).
 *
 * The same script runs in the primary and in each worker. In the primary, `runWorkers` forks the workers, relays
 * their bus, replaces a worker that dies, and on SIGTERM/SIGINT asks every worker to stop (each closes its sockets
 * with 1001), then exits 0. In a worker it calls `start` and reports ready.
 *
 * Sharing the port: where the running Node supports `reusePort` (checked by binding two sockets, never by
 * version), each worker binds its own socket and the kernel spreads connections; elsewhere node:cluster's
 * primary accepts and hands connections out round robin.
 */
import type { Cluster, Worker } from 'node:cluster';
import * as net from 'node:net';
import { availableParallelism } from 'node:os';
import { requireBuiltin } from '../core/platform.ts';
import type { Backplane } from './backplane.ts';
import { clusterBackplane, relayBus } from './cluster-backplane.ts';

/** What `start` is given in each worker. */
export interface WorkerInfo {
  /** 1 … N; a replacement worker gets the number of the one it replaces. */
  id: number;
  /** The port to listen on (resolved by the primary when 0 was asked for with `reusePort`). */
  port: number;
  /** Pass it to `createContext`: whether to bind with SO_REUSEPORT. */
  reusePort: boolean;
  /** The cluster IPC backplane (created on first call). Use another (Redis) to reach other hosts. */
  backplane(): Backplane;
}

/** What a worker runs: something that listens, and stops with `destroy()` (a `Context` does both). */
export interface WorkerService {
  destroy(): Promise<void>;
  /** The port it listens on, reported to the primary. */
  readonly port?: number;
}

export interface WorkersOptions {
  /** Worker processes. Default: `os.availableParallelism()`. */
  workers?: number;
  /** The port every worker serves. Default 0 (a free port, the same for all). */
  port?: number;
  /** Runs in each worker. */
  start(worker: WorkerInfo): Promise<WorkerService> | WorkerService;
  /** Milliseconds a stopping worker may take before it is killed. Default 10 s. */
  stopTimeout?: number;
  /** Lines about workers (started, died, replaced). Default: stderr. */
  log?: (line: string) => void;
}

export interface WorkerPool {
  /** The port the workers serve. */
  readonly port: number;
  /** Process ids of the live workers. */
  pids(): number[];
  /** Stops every worker (1001 to every socket) and resolves once all have exited. */
  close(): Promise<void>;
}

type Control = { tslay: 'ready'; port: number } | { tslay: 'stop' };

const REPLACE_DELAY = { first: 100, max: 5_000, stable: 10_000 };

/**
 * In the primary: forks the workers and resolves once all serve, with the pool. In a worker: runs `start`,
 * and resolves with null.
 */
export async function runWorkers(options: WorkersOptions): Promise<WorkerPool | null> {
  const cluster: Cluster = requireBuiltin('node:cluster');
  if (cluster.isPrimary) return startPrimary(cluster, options);
  await startWorker(options);
  return null;
}

/** Whether this Node binds with SO_REUSEPORT: two listeners on one port both succeed. */
export async function reusePortSupported(): Promise<boolean> {
  const listen = (port: number) =>
    new Promise<net.Server | null>((resolve) => {
      const server = net.createServer();
      server.once('error', () => resolve(null));
      server.listen({ port, host: '127.0.0.1', reusePort: true, exclusive: true } as net.ListenOptions, () =>
        resolve(server),
      );
    });
  const first = await listen(0);
  if (first === null) return false;
  const second = await listen((first.address() as net.AddressInfo).port);
  await Promise.all([first, second].map((s) => s && new Promise((done) => s.close(done))));
  return second !== null;
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((done) => server.close(done));
  return port;
}

async function startPrimary(cluster: Cluster, options: WorkersOptions): Promise<WorkerPool> {
  const count = options.workers ?? availableParallelism();
  if (!Number.isSafeInteger(count) || count < 1) throw new TypeError('workers must be an integer >= 1');
  const log = options.log ?? ((line: string) => console.error(`tslay: ${line}`));
  const reusePort = await reusePortSupported();
  // Every worker, replacements too, listens on what was asked for: node:cluster shares one handle per port asked.
  let workerPort = options.port ?? 0;
  if (workerPort === 0 && reusePort) workerPort = await freePort();
  cluster.setupPrimary({ serialization: 'advanced' });
  const stopRelay = relayBus(cluster);
  const ids = new Map<Worker, { id: number; born: number }>();
  let stopping: Promise<void> | null = null;
  let delay = REPLACE_DELAY.first;

  const fork = (id: number) => {
    const worker = cluster.fork({
      TSLAY_WORKER_ID: String(id),
      TSLAY_PORT: String(workerPort),
      TSLAY_REUSE_PORT: reusePort ? '1' : '',
    });
    ids.set(worker, { id, born: Date.now() });
    return worker;
  };
  const ready = (worker: Worker) =>
    new Promise<number>((resolve, reject) => {
      const onMessage = (message: Control) => {
        if (message?.tslay !== 'ready') return;
        worker.off('exit', onExit);
        worker.off('message', onMessage);
        resolve(message.port);
      };
      const onExit = (code: number | null) =>
        reject(new Error(`worker exited with ${code} before it was ready`));
      worker.on('message', onMessage);
      worker.once('exit', onExit);
    });

  const first = await Promise.all(Array.from({ length: count }, (_, i) => ready(fork(i + 1)))).catch(
    async (error: unknown) => {
      for (const worker of ids.keys()) worker.kill();
      stopRelay();
      throw error;
    },
  );
  const port = first[0]!;

  cluster.on('exit', (worker, code, signal) => {
    const info = ids.get(worker);
    ids.delete(worker);
    if (stopping !== null || info === undefined) return;
    const lived = Date.now() - info.born;
    delay = lived > REPLACE_DELAY.stable ? REPLACE_DELAY.first : Math.min(delay * 2, REPLACE_DELAY.max);
    log(`worker ${info.id} (pid ${worker.process.pid}) died (${signal ?? code}); replacing it`);
    setTimeout(
      () => {
        if (stopping === null) fork(info.id);
      },
      lived > REPLACE_DELAY.stable ? 0 : delay,
    ).unref();
  });

  const close = () => {
    stopping ??= stopAll([...ids.keys()], options.stopTimeout ?? 10_000).then(stopRelay);
    return stopping;
  };
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      close().then(() => process.exit(0));
    });
  }
  return { port, pids: () => [...ids.keys()].map((w) => w.process.pid!), close };
}

function stopAll(workers: Worker[], timeout: number): Promise<void> {
  return Promise.all(
    workers.map(
      (worker) =>
        new Promise<void>((resolve) => {
          if (worker.isDead()) return resolve();
          const timer = setTimeout(() => worker.process.kill('SIGKILL'), timeout);
          worker.once('exit', () => {
            clearTimeout(timer);
            resolve();
          });
          if (worker.isConnected()) worker.send({ tslay: 'stop' } satisfies Control);
          else worker.process.kill('SIGTERM');
        }),
    ),
  ).then(() => {});
}

async function startWorker(options: WorkersOptions): Promise<void> {
  let backplane: Backplane | null = null;
  const info: WorkerInfo = {
    id: Number(process.env.TSLAY_WORKER_ID),
    port: Number(process.env.TSLAY_PORT ?? options.port ?? 0),
    reusePort: process.env.TSLAY_REUSE_PORT === '1',
    backplane: () => (backplane ??= clusterBackplane()),
  };
  const service = await options.start(info);
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    service.destroy().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('message', (message: Control) => {
    if (message?.tslay === 'stop') stop();
  });
  // A signal to the whole process group (Ctrl-C) reaches workers too; the primary's 'stop' follows.
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.on('disconnect', stop);
  process.send!({ tslay: 'ready', port: service.port ?? info.port } satisfies Control);
}
