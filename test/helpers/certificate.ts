/** Self-signed certificates for TLS tests, made with openssl at test time. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A certificate for localhost and 127.0.0.1, valid for a day, in a temporary directory that `dispose()` removes;
 * `certPath` is its PEM file, for peers that read one.
 */
export function makeCertificate(): { cert: string; key: string; certPath: string; dispose(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'tslay-cert-'));
  const dispose = () => rmSync(dir, { recursive: true, force: true });
  const keyPath = join(dir, 'key.pem');
  const certPath = join(dir, 'cert.pem');
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=DNS:localhost,IP:127.0.0.1',
        '-keyout',
        keyPath,
        '-out',
        certPath,
      ],
      { stdio: 'ignore' },
    );
    return { cert: readFileSync(certPath, 'utf8'), key: readFileSync(keyPath, 'utf8'), certPath, dispose };
  } catch (error) {
    dispose();
    throw error;
  }
}

/** `makeCertificate`'s certificate and key (PEM), its files already removed. */
export function selfSignedCertificate(): { cert: Buffer; key: Buffer } {
  const certificate = makeCertificate();
  try {
    return { cert: Buffer.from(certificate.cert), key: Buffer.from(certificate.key) };
  } finally {
    certificate.dispose();
  }
}
