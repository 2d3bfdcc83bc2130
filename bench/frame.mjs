// Frame + mask: binary messages of one size sent one by one, each followed by taking the bytes to write.
//
//   node bench/frame.mjs tslay   Connection.sendBinary(payload) then dataToSend() (what an adapter's send()
//                                does: queue, then flush), chunk bytes counted
//   node bench/frame.mjs ws      ws Sender.send() into a mock socket (cork/write/uncork that count bytes);
//                                WS_NO_BUFFER_UTIL=1 gives its pure JS mask
//
// Masked = client side (fresh random mask per frame, payload copied and masked), unmasked = server side (a header;
// large payloads are passed on without a copy by both, so MB/s is not a copy rate there).
import { bench, emit, loadTslay, loadWs } from './lib.mjs';

const impl = process.argv[2] ?? 'tslay';
const SIZES = [32, 1024, 65536, 1 << 20];
const perPass = (size) => (size <= 1024 ? 2048 : size <= 65536 ? 16 : 4);

let makeSender; // (masked) => { send(payload), written() }
let variant = impl;
if (impl === 'tslay') {
  const { Connection } = await loadTslay();
  makeSender = (masked) => {
    const conn = new Connection({ role: masked ? 'client' : 'server' });
    let bytes = 0;
    return {
      send(payload) {
        conn.sendBinary(payload);
        const { chunks } = conn.dataToSend();
        for (let i = 0; i < chunks.length; i++) bytes += chunks[i].length;
      },
      written: () => bytes,
    };
  };
} else if (impl === 'ws') {
  const loaded = loadWs();
  variant = loaded.variant;
  const { Sender } = loaded.ws;
  makeSender = (masked) => {
    let bytes = 0;
    const sock = {
      cork() {},
      uncork() {},
      write(b, cb) {
        bytes += b.length;
        if (cb) cb();
        return true;
      },
    };
    const s = new Sender(sock);
    const opts = { binary: true, mask: masked, compress: false, fin: true };
    return { send: (payload) => s.send(payload, opts), written: () => bytes };
  };
} else throw new Error(`unknown implementation ${impl}`);

for (const size of SIZES) {
  for (const masked of [true, false]) {
    const per = perPass(size);
    const payload = Buffer.alloc(size, 0x61);
    const sender = makeSender(masked);
    const run = () => {
      for (let i = 0; i < per; i++) sender.send(payload);
    };
    run();
    const want = per * (size + (size < 126 ? 2 : size < 65536 ? 4 : 10) + (masked ? 4 : 0));
    if (sender.written() !== want)
      throw new Error(`${impl} ${size}: wrote ${sender.written()}, expected ${want}`);
    if (payload[0] !== 0x61) throw new Error(`${impl} mutated the caller's payload`);
    const res = bench(run, { bytes: per * size, frames: per });
    emit({ bench: 'frame', size, masked, impl: variant, ...res });
  }
}
