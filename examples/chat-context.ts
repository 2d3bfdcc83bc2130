/**
 * The service context (libwebsockets style): one port, a protocol table, broadcast to every socket of a
 * protocol. Two clients join "chat"; what one writes, both receive. Run: node --import tsx examples/chat-context.ts
 */
import { connect, createContext } from '../src/index.ts';

const context = await createContext({
  port: 0,
  host: '127.0.0.1',
  protocols: {
    chat: (ws) => {
      ws.onReceive((socket, data) => socket.broadcast(data));
    },
  },
});

const url = `ws://127.0.0.1:${context.port}/`;
const alice = await connect(url, { protocols: ['chat'] });
const bob = await connect(url, { protocols: ['chat'] });
const heard = new Promise<string>((resolve) => bob.once('message', (data) => resolve(data.toString())));
alice.send('hi from alice');
console.log(`bob heard: ${await heard}`);
alice.close();
bob.close();
await context.destroy();
