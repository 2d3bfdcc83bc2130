// An echo server written for the `ws` package, as its users write one. bench/ws-skin.sh runs it as it is and,
// with only the import line changed, on `tslay/ws`.
import { WebSocketServer } from 'ws';

const port = Number(process.env.PORT || 9200);
const wss = new WebSocketServer({ host: '127.0.0.1', port, backlog: 4096 });
wss.on('connection', (ws) => {
  ws.on('error', () => {});
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
});
wss.on('listening', () => console.error(`echo-ws (node ${process.version}) on 127.0.0.1:${port}`));
