/**
 * The stream skin: read whole messages with `for await`, or poll with `read()` without blocking.
 * Run: node --import tsx examples/stream.ts
 */
import { connect, serve } from '../src/index.ts';

const server = await serve({ port: 0, host: '127.0.0.1' });
server.on('connection', (ws) => {
  for (const word of ['one', 'two', 'three']) ws.send(word);
  ws.close(1000);
});

const ws = await connect(`ws://127.0.0.1:${server.port}/`);
console.log(`before anything arrived: ${ws.readState}`);
for await (const message of ws) console.log(`got ${message.data.toString()}`);
console.log(`after the close: ${ws.readState}`);
await server.close();
