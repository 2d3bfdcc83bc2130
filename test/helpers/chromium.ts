/** Debian's headless Chromium for browser tests (a browser never downloads its own build here). */
import { existsSync } from 'node:fs';

export const CHROMIUM = '/usr/bin/chromium';

/** Without the background-networking flags Chromium keeps trying to reach Google's hosts on a closed network. */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

export function chromiumAvailable(): boolean {
  return existsSync(CHROMIUM);
}
