/**
 * A WebSocket server and a client on the Node transport: the server echoes, the client sends two messages,
 * prints the replies and closes. Run: node --import tsx examples/node-echo.ts
 */
import { connect, serve } from '../src/index.ts';

const server = await serve({ port: 0, host: '127.0.0.1' });
server.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
});

const ws = await connect(`ws://127.0.0.1:${server.port}/`);
ws.send('hello');
ws.send(new Uint8Array([1, 2, 3]));

let replies = 0;
ws.on('message', (data, isBinary) => {
  console.log(isBinary ? `binary ${data.toString('hex')}` : `text ${data.toString()}`);
  if (++replies === 2) ws.close(1000, 'done');
});
ws.on('close', async (code, reason, wasClean) => {
  console.log(`closed ${code} ${reason} clean=${wasClean}`);
  await server.close();
});
