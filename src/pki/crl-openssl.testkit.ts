/**
 * Test kit for the CRL and OCSP tests: real CAs, leaves and OCSP responders made by the
 * `openssl` command line in a temporary directory, so that what we build is checked by
 * a peer we did not write. Test-only (not imported by production code).
 */
import { execFile, spawnSync } from 'node:child_process';
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export type CaKeyType = 'p256' | 'p384' | 'p521' | 'rsa' | 'ed25519' | 'ed448';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout + stderr, for assertions that do not care where openssl printed. */
  out: string;
}

const NEWKEY: Record<CaKeyType, string[]> = {
  p256: ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'],
  p384: ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384'],
  p521: ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-521'],
  rsa: ['-newkey', 'rsa:2048'],
  ed25519: ['-newkey', 'ed25519'],
  ed448: ['-newkey', 'ed448'],
};

export function openssl(cwd: string, args: string[]): RunResult {
  const r = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
  if (r.error) throw r.error;
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr, out: r.stdout + r.stderr };
}

/** Like `openssl`, without blocking the event loop (needed when the peer calls our server). */
export function opensslAsync(cwd: string, args: string[]): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile('openssl', args, { cwd, encoding: 'utf8', timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as any).code === 'number' ? (err as any).code : -1) : 0;
      resolve({ code, stdout, stderr, out: stdout + stderr });
    });
  });
}

function must(cwd: string, args: string[]): RunResult {
  const r = openssl(cwd, args);
  if (r.code !== 0) throw new Error(`openssl ${args.join(' ')} failed (${r.code}): ${r.out}`);
  return r;
}

export interface TestCert {
  name: string;
  /** Path relative to the kit directory (openssl runs there). */
  file: string;
  keyFile: string;
  pem: string;
  der: Buffer;
  key: KeyObject;
  serialHex: string;
}

export interface TestKit {
  dir: string;
  write(name: string, data: string | Buffer): string;
  read(name: string): Buffer;
  openssl(args: string[]): RunResult;
  opensslAsync(args: string[]): Promise<RunResult>;
  ca(name: string, type: CaKeyType): TestCert;
  /** A leaf (or delegated OCSP responder) signed by `ca`, with `serialHex` (lowercase, no leading zeros). */
  leaf(ca: TestCert, name: string, serialHex: string, opts?: { crlUrl?: string; ocspResponder?: boolean; keyType?: CaKeyType }): TestCert;
  cleanup(): void;
}

function load(dir: string, name: string, file: string, keyFile: string): TestCert {
  const pem = readFileSync(join(dir, file), 'utf8');
  const der = Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
  const key = createPrivateKey(readFileSync(join(dir, keyFile)));
  const serial = must(dir, ['x509', '-in', file, '-noout', '-serial']).stdout.trim().split('=')[1];
  return { name, file, keyFile, pem, der, key, serialHex: serial.toLowerCase().replace(/^0+(?=.)/, '') };
}

export function createTestKit(prefix: string): TestKit {
  const dir = mkdtempSync(join(tmpdir(), `certa-${prefix}-`));
  const write = (name: string, data: string | Buffer) => {
    writeFileSync(join(dir, name), data);
    return name;
  };
  return {
    dir,
    write,
    read: (name) => readFileSync(join(dir, name)),
    openssl: (args) => openssl(dir, args),
    opensslAsync: (args) => opensslAsync(dir, args),
    ca(name, type) {
      must(dir, [
        'req', '-x509', ...NEWKEY[type], '-nodes', '-keyout', `${name}.key`, '-out', `${name}.pem`,
        '-days', '36500', '-subj', `/C=FR/O=Solution Libre/CN=${name}`,
        '-addext', 'basicConstraints=critical,CA:TRUE',
        '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
      ]);
      return load(dir, name, `${name}.pem`, `${name}.key`);
    },
    leaf(ca, name, serialHex, opts = {}) {
      const ext = [
        'basicConstraints=critical,CA:FALSE',
        'subjectKeyIdentifier=hash',
        'authorityKeyIdentifier=keyid',
        opts.ocspResponder ? 'keyUsage=critical,digitalSignature' : 'keyUsage=critical,digitalSignature,keyEncipherment',
        opts.ocspResponder ? 'extendedKeyUsage=OCSPSigning' : 'extendedKeyUsage=serverAuth',
        ...(opts.ocspResponder ? ['noCheck=ignored'] : []),
        ...(opts.crlUrl ? [`crlDistributionPoints=URI:${opts.crlUrl}`] : []),
      ];
      write(`${name}.ext`, ext.join('\n') + '\n');
      must(dir, ['req', '-new', ...NEWKEY[opts.keyType ?? 'p256'], '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/O=Solution Libre/CN=${name}`]);
      must(dir, [
        'x509', '-req', '-in', `${name}.csr`, '-CA', ca.file, '-CAkey', ca.keyFile, '-set_serial', `0x${serialHex}`,
        '-days', '36500', '-extfile', `${name}.ext`, '-out', `${name}.pem`,
      ]);
      return load(dir, name, `${name}.pem`, `${name}.key`);
    },
    cleanup() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Deterministic pseudo-random bytes (xorshift32) for junk-input tests. */
export function junk(seed: number, n: number): Buffer {
  const out = Buffer.alloc(n);
  let x = seed | 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** Truncations and single-byte mutations of a valid encoding. */
export function mutations(valid: Buffer, count: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < valid.length; i += Math.max(1, Math.floor(valid.length / 40))) out.push(valid.subarray(0, i));
  const r = junk(12345, count * 2);
  for (let i = 0; i < count; i++) {
    const m = Buffer.from(valid);
    const at = (r[2 * i] * 257 + r[2 * i + 1] * 13 + i * 7919) % m.length;
    m[at] ^= 1 << i % 8;
    out.push(m);
    const m2 = Buffer.from(valid);
    m2[at] = [0x00, 0x80, 0xff, 0x84, 0x30][i % 5];
    out.push(m2);
  }
  return out;
}
