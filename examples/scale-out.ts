/**
 * Scale-out: two contexts on one bus, as two processes on one Redis would be. A socket of each subscribes to
 * "news"; a publish on either context reaches both, once each. `MemoryBus` stands in for Redis here; in
 * production pass `redisBackplane({ client })` from `tslay/redis` (or `worker.backplane()` under `runWorkers`).
 * Run: node --import tsx examples/scale-out.ts
 */
import { connect, createContext, MemoryBus } from '../src/index.ts';

const bus = new MemoryBus();
const contexts = await Promise.all(
  ['east', 'west'].map((name) =>
    createContext({
      port: 0,
      host: '127.0.0.1',
      backplane: bus.backplane(),
      protocols: { news: (ws) => void ws.subscribe('news') },
      onBackplaneReport: (report) => console.log(`${name}: ${report.type}`),
    }),
  ),
);

const readers = await Promise.all(
  contexts.map((context) => connect(`ws://127.0.0.1:${context.port}/`, { protocols: ['news'] })),
);
await new Promise((resolve) => setImmediate(resolve)); // subscriptions reach the bus once per turn

const heard = readers.map(
  (reader, i) =>
    new Promise<string>((resolve) => reader.once('message', (data) => resolve(`reader ${i} heard: ${data}`))),
);
contexts[0]!.publish('news', 'published on east');
for (const line of await Promise.all(heard)) console.log(line);

for (const reader of readers) reader.close();
await Promise.all(contexts.map((context) => context.destroy()));
