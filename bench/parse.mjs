// Parse + unmask: a stream of frames fed in 64 KiB slices (like socket reads) to one parser.
//
//   node bench/parse.mjs tslay       Connection: receiveData(slice), then nextEvent() until null; frames
//                                    counted by their frame-end events (payload pieces are views, not copied)
//   node bench/parse.mjs tslay-msg   the same plus MessageAssembler (whole messages, like ws hands out)
//   node bench/parse.mjs ws          ws Receiver, 'message' counted; WS_NO_BUFFER_UTIL=1 gives its pure JS unmask
//
// Masked = a server parsing client frames (unmask in place), unmasked = a client parsing server frames. Both
// parsers unmask in place, so a masked input is restored before each pass, outside the timed region.
// Cases: binary 32 B, 1 KiB, 64 KiB, 1 MiB, masked and unmasked; text 1 KiB masked (UTF-8 validation on).
import { bench, emit, frameStream, framesPerPass, loadTslay, loadWs, utf8Text } from './lib.mjs';

const impl = process.argv[2] ?? 'tslay';
const CASES = [];
for (const size of [32, 1024, 65536, 1 << 20]) {
  for (const masked of [true, false]) CASES.push({ kind: 'binary', size, masked });
}
CASES.push({ kind: 'text', size: 1024, masked: true });

let makeParser; // (masked, onFrame) => (slice) => void
let variant = impl;
if (impl === 'tslay' || impl === 'tslay-msg') {
  const { Connection, MessageAssembler } = await loadTslay();
  const assemble = impl === 'tslay-msg';
  makeParser = (masked, onFrame) => {
    const conn = new Connection({ role: masked ? 'server' : 'client' });
    const assembler = new MessageAssembler();
    return (slice) => {
      conn.receiveData(slice);
      for (let e = conn.nextEvent(); e !== null; e = conn.nextEvent()) {
        if (assemble) {
          if (assembler.push(e) !== null) onFrame();
        } else if (e.type === 'frame-end') onFrame();
        else if (e.type === 'fail') throw e.error;
      }
    };
  };
} else if (impl === 'ws') {
  const loaded = loadWs();
  variant = loaded.variant;
  const { Receiver } = loaded.ws;
  makeParser = (masked, onFrame) => {
    const r = new Receiver({
      isServer: masked,
      binaryType: 'nodebuffer',
      maxPayload: 0,
      allowSynchronousEvents: true,
    });
    r.on('message', onFrame);
    r.on('error', (e) => {
      throw e;
    });
    return (slice) => r.write(slice);
  };
} else throw new Error(`unknown implementation ${impl}`);

for (const { kind, size, masked } of CASES) {
  const count = framesPerPass(size);
  const payload = kind === 'text' ? utf8Text(size) : Buffer.alloc(size, 0x61);
  const stream = frameStream(payload, count, { opcode: kind === 'text' ? 1 : 2, masked });
  let got = 0;
  const feed = makeParser(masked, () => {
    got++;
  });
  const slices = stream.slices;
  const run = () => {
    for (let i = 0; i < slices.length; i++) feed(slices[i]);
  };
  stream.refresh();
  run();
  if (got !== count) throw new Error(`${impl} ${kind} ${size}: expected ${count} frames, got ${got}`);
  const res = bench(run, {
    prepare: masked ? stream.refresh : undefined,
    bytes: count * size,
    frames: count,
  });
  emit({ bench: 'parse', kind, size, masked, impl: variant, ...res });
}
