/**
 * A real `redis-server` for tests: started on a free port with persistence off, stopped (and restartable on the
 * same port) by the test.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import * as net from 'node:net';
import { createClient } from 'redis';
import { freePort } from './net.ts';

export interface RedisServer {
  port: number;
  url: string;
  /** Kills the server (SIGKILL: no goodbye to its clients). */
  kill(): Promise<void>;
  /** Starts it again on the same port. */
  start(): Promise<void>;
  /** Runs one command on a fresh connection. */
  command(args: string[]): Promise<unknown>;
  stop(): Promise<void>;
}

function launch(port: number): Promise<ChildProcess> {
  const child = spawn(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--loglevel',
      'warning',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  return new Promise((resolve, reject) => {
    let output = '';
    const onData = (chunk: Buffer) => (output += chunk.toString());
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`redis-server exited (${code}): ${output}`)));
    const poll = () => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(child);
      });
      socket.once('error', () => setTimeout(poll, 20));
    };
    poll();
  });
}

/** Waits until Redis counts `want` subscribers on each channel (`sharded`: shard channels). */
export async function subscribers(
  redis: RedisServer,
  want: Record<string, number>,
  sharded = false,
): Promise<void> {
  const channels = Object.keys(want);
  for (let tries = 0; ; tries++) {
    if (tries === 1500) throw new Error(`Redis never counted the subscribers ${JSON.stringify(want)}`);
    const reply = (await redis.command([
      'PUBSUB',
      sharded ? 'SHARDNUMSUB' : 'NUMSUB',
      ...channels,
    ])) as unknown[];
    if (channels.every((channel, i) => Number(reply[2 * i + 1]) === want[channel])) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export async function startRedis(): Promise<RedisServer> {
  const port = await freePort();
  let child: ChildProcess | null = await launch(port);
  const kill = async () => {
    if (child === null) return;
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await exited;
    child = null;
  };
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    kill,
    start: async () => {
      child ??= await launch(port);
    },
    async command(args) {
      const client = createClient({ url: `redis://127.0.0.1:${port}` });
      client.on('error', () => {});
      await client.connect();
      try {
        return await client.sendCommand(args);
      } finally {
        client.destroy();
      }
    },
    stop: kill,
  };
}
