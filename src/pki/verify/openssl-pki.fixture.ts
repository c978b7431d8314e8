/**
 * Test fixture: builds real certificate hierarchies and CRLs with the `openssl` CLI
 * (`openssl ca`, so every date is fixed), in a throwaway directory.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export type KeyAlg = 'rsa' | 'ec' | 'ed25519';

export interface Issued {
  name: string;
  dir: string;
  keyPath: string;
  certPath: string;
  der: Uint8Array;
  pem: string;
}

export interface IssueParams {
  /** Directory-safe name. */
  name: string;
  subject: string;
  alg: KeyAlg;
  /** Extension lines for the [ext] section. */
  ext: string[];
  /** Omit for a self-signed root. */
  issuer?: Issued;
  /** YYYYMMDDHHMMSSZ */
  start?: string;
  end?: string;
  /** Reuse an existing key file. */
  keyPath?: string;
}

export const START = '20240101000000Z';
export const END = '20340101000000Z';

export class OpensslPki {
  readonly root: string;

  constructor() {
    this.root = mkdtempSync(join(tmpdir(), 'certa-verify-'));
  }

  cleanup() {
    rmSync(this.root, { recursive: true, force: true });
  }

  run(args: string[], cwd = this.root): string {
    return execFileSync('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] }).toString();
  }

  key(path: string, alg: KeyAlg) {
    if (alg === 'rsa') this.run(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', path]);
    else if (alg === 'ec') this.run(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', path]);
    else this.run(['genpkey', '-algorithm', 'ED25519', '-out', path]);
  }

  private caConfig(dir: string) {
    return [
      '[ ca ]',
      'default_ca = CA_default',
      '[ CA_default ]',
      `dir = ${dir}`,
      'database = $dir/index.txt',
      'new_certs_dir = $dir/newcerts',
      'serial = $dir/serial',
      'crlnumber = $dir/crlnumber',
      'default_md = default',
      'policy = policy_any',
      'unique_subject = no',
      'preserve = yes',
      'email_in_dn = no',
      '[ policy_any ]',
      'commonName = optional',
      'organizationName = optional',
      'organizationalUnitName = optional',
      'countryName = optional',
      '',
    ].join('\n');
  }

  issue(p: IssueParams): Issued {
    const dir = join(this.root, p.name);
    mkdirSync(join(dir, 'newcerts'), { recursive: true });
    writeFileSync(join(dir, 'index.txt'), '');
    writeFileSync(join(dir, 'serial'), `1${randomBytes(7).toString('hex')}0\n`);
    writeFileSync(join(dir, 'crlnumber'), '1000\n');
    writeFileSync(join(dir, 'ca.cnf'), this.caConfig(dir));
    const keyPath = p.keyPath ?? join(dir, 'key.pem');
    if (!p.keyPath) this.key(keyPath, p.alg);
    writeFileSync(join(dir, 'ext.cnf'), ['[ ext ]', ...p.ext, ''].join('\n'));
    this.run(['req', '-new', '-key', keyPath, '-subj', p.subject, '-out', join(dir, 'req.csr')]);
    const certPath = join(dir, 'cert.pem');
    const signer = p.issuer ?? { dir, keyPath, certPath: '' };
    const args = [
      'ca', '-batch', '-notext',
      '-config', join(signer.dir, 'ca.cnf'),
      '-keyfile', signer.keyPath,
      '-in', join(dir, 'req.csr'),
      '-out', certPath,
      '-startdate', p.start ?? START,
      '-enddate', p.end ?? END,
      '-extfile', join(dir, 'ext.cnf'),
      '-extensions', 'ext',
    ];
    if (p.issuer) args.push('-cert', p.issuer.certPath);
    else args.push('-selfsign');
    this.run(args);
    const pem = readFileSync(certPath, 'utf8');
    const der = this.toDer(certPath);
    return { name: p.name, dir, keyPath, certPath, der, pem };
  }

  toDer(certPath: string): Uint8Array {
    return new Uint8Array(execFileSync('openssl', ['x509', '-in', certPath, '-outform', 'DER']));
  }

  revoke(ca: Issued, cert: Issued, reason = 'keyCompromise') {
    this.run(['ca', '-config', join(ca.dir, 'ca.cnf'), '-keyfile', ca.keyPath, '-cert', ca.certPath, '-revoke', cert.certPath, '-crl_reason', reason]);
  }

  crl(ca: Issued, lastUpdate: string, nextUpdate: string): Uint8Array {
    const out = join(ca.dir, `crl-${Date.now()}-${Math.random().toString(16).slice(2)}.pem`);
    this.run([
      'ca', '-gencrl', '-config', join(ca.dir, 'ca.cnf'), '-keyfile', ca.keyPath, '-cert', ca.certPath,
      '-crl_lastupdate', lastUpdate, '-crl_nextupdate', nextUpdate, '-out', out,
    ]);
    return new Uint8Array(execFileSync('openssl', ['crl', '-in', out, '-outform', 'DER']));
  }
}

/** Extension sets for a classic three-level web PKI hierarchy. */
export const EXT = {
  root: ['basicConstraints = critical, CA:TRUE', 'keyUsage = critical, keyCertSign, cRLSign', 'subjectKeyIdentifier = hash'],
  intermediate: (extra: string[] = [], pathlen?: number) => [
    `basicConstraints = critical, CA:TRUE${pathlen === undefined ? '' : `, pathlen:${pathlen}`}`,
    'keyUsage = critical, keyCertSign, cRLSign',
    'subjectKeyIdentifier = hash',
    'authorityKeyIdentifier = keyid:always',
    ...extra,
  ],
  leaf: (alg: KeyAlg, san = 'DNS:www.example.com', eku = 'serverAuth', extra: string[] = []) => [
    'basicConstraints = critical, CA:FALSE',
    `keyUsage = critical, ${alg === 'rsa' ? 'digitalSignature, keyEncipherment' : 'digitalSignature'}`,
    `extendedKeyUsage = ${eku}`,
    `subjectAltName = ${san}`,
    'subjectKeyIdentifier = hash',
    'authorityKeyIdentifier = keyid:always',
    ...extra,
  ],
};
