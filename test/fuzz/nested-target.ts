import type { FuzzTarget } from './engine.ts';

/**
 * Eight nested checks, each passed by one byte below 0x10: blind random inputs pass them all once in 16^8 (about
 * 4 billion) tries; a coverage-guided search keeps each input that passes one more check and needs thousands.
 * (Alone in its file, so that the coverage counted is this function's only.)
 */
export const nested: FuzzTarget = {
  name: 'nested',
  description: 'throws on inputs whose first eight bytes are all below 0x10',
  seeds: () => [new TextEncoder().encode('WebSocket')],
  maxLength: 16,
  run(data) {
    if (data.length >= 8 && data[0]! < 0x10)
      if (data[1]! < 0x10)
        if (data[2]! < 0x10)
          if (data[3]! < 0x10)
            if (data[4]! < 0x10)
              if (data[5]! < 0x10)
                if (data[6]! < 0x10) if (data[7]! < 0x10) throw new Error('all eight below 0x10');
  },
};
