/**
 * The engine by hand (the README's first example): bytes in, events out, bytes out, no I/O.
 * Run: node --import tsx examples/core-by-hand.ts
 */
import { Connection, MessageAssembler } from '../src/core/index.ts';

const conn = new Connection({ role: 'server' });
const assembler = new MessageAssembler();

// Two masked text frames from a client ("Hello" and "hi", mask 37 fa 21 3d), as one socket read.
const bytesFromTheSocket = Buffer.from('818537fa213d7f9f4d5158818237fa213d5f93', 'hex');

let echoed = 0;
conn.receiveData(bytesFromTheSocket);
for (let event = conn.nextEvent(); event; event = conn.nextEvent()) {
  const message = assembler.push(event);
  if (message) {
    conn.sendText(message.data); // echo
    echoed++;
  }
}
const { chunks } = conn.dataToSend(); // write these to the socket (one chunk: the replies are batched)
const hex = chunks.map((c) => Buffer.from(c).toString('hex')).join('');
console.log(`echoed ${echoed} messages in ${chunks.length} chunk(s): ${hex}`);
