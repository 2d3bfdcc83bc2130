/**
 * `require('tslay/ws')`: the `WebSocket` class with `WebSocketServer`, `Server`, `createWebSocketStream` and the
 * ready-state constants on it, as `require('ws')` returns. The module is the ES module itself (loaded with
 * `require()` of ES modules, which every supported Node line has), so CommonJS and ESM users share one class.
 */
import ws = require('./index.ts');

export = ws.default;
