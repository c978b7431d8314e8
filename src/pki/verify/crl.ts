/**
 * CRL parsing and checking (RFC 5280 5 and 6.3, CABF 7.2). A CRL that is not a
 * well-formed v2 CRL (DER damage, a version other than v2, a date in the wrong ASN.1 time
 * type, no nextUpdate) is not a CRL at all: the caller ignores it with a warning, as
 * x509-limbo expects. A well-formed CRL whose issuer is a CA on the path is authoritative:
 * if it fails any check (signature, cRLSign, stale or future dates, CRL number, critical
 * extensions, scope) the path fails closed with `crlInvalid`.
 */
import {
  DerError,
  T,
  type DerTime,
  bytesEqual,
  children,
  isContext,
  isUniversal,
  raw,
  readBitString,
  readBoolean,
  readIntegerBytes,
  readSingle,
  readSmallInt,
  readTime,
  sequence,
} from './der.js';
import {
  type Certificate,
  type AlgorithmId,
  type Extension,
  type DistributionPointName,
  parseAlgorithmId,
  parseDistributionPointName,
  parseExtensions,
  serialToHex,
} from './certificate.js';
import { type Name, parseName } from './names.js';
import { EXT } from './oids.js';
import { publicKeyObject, sigAlgInfo, verifySignature } from './signature.js';

export interface CrlEntry {
  serialHex: string;
  revocationDate: DerTime;
  reason?: number;
  extensions: Extension[];
}

export interface IssuingDistributionPoint {
  name?: DistributionPointName;
  onlyUser: boolean;
  onlyCa: boolean;
  onlySomeReasons: boolean;
  indirect: boolean;
  onlyAttribute: boolean;
}

export interface Crl {
  der: Uint8Array;
  tbs: Uint8Array;
  /** Undefined means v1 (field absent); 1 means v2. */
  version?: number;
  tbsSignatureAlg: AlgorithmId;
  signatureAlg: AlgorithmId;
  signature: Uint8Array;
  issuer: Name;
  thisUpdate: DerTime;
  nextUpdate?: DerTime;
  entries: CrlEntry[];
  extensions: Extension[];
  /** Structural problems found while parsing inner fields. */
  problems: string[];
  idp?: IssuingDistributionPoint;
}

export const REASONS = [
  'unspecified',
  'keyCompromise',
  'cACompromise',
  'affiliationChanged',
  'superseded',
  'cessationOfOperation',
  'certificateHold',
  'unused',
  'removeFromCRL',
  'privilegeWithdrawn',
  'aACompromise',
];

function parseIdp(v: Uint8Array): IssuingDistributionPoint {
  const out: IssuingDistributionPoint = { onlyUser: false, onlyCa: false, onlySomeReasons: false, indirect: false, onlyAttribute: false };
  const bool = (t: ReturnType<typeof readSingle>) => {
    // Implicitly tagged BOOLEAN.
    if (t.constructed || t.end - t.valueStart !== 1) throw new DerError('issuingDistributionPoint: malformed BOOLEAN');
    return readBoolean(v, t, 'issuingDistributionPoint');
  };
  let last = -1;
  for (const p of sequence(v, readSingle(v, 'issuingDistributionPoint'), 'issuingDistributionPoint')) {
    if (p.cls !== 2 || p.tag <= last) throw new DerError('issuingDistributionPoint: unexpected content');
    last = p.tag;
    switch (p.tag) {
      case 0:
        out.name = parseDistributionPointName(v, p, 'issuingDistributionPoint');
        break;
      case 1:
        out.onlyUser = bool(p);
        break;
      case 2:
        out.onlyCa = bool(p);
        break;
      case 3:
        out.onlySomeReasons = true;
        break;
      case 4:
        out.indirect = bool(p);
        break;
      case 5:
        out.onlyAttribute = bool(p);
        break;
      default:
        throw new DerError('issuingDistributionPoint: unexpected content');
    }
  }
  if ([out.onlyUser, out.onlyCa, out.onlyAttribute].filter(Boolean).length > 1) throw new DerError('issuingDistributionPoint: conflicting scope flags');
  return out;
}

export function parseCrl(der: Uint8Array): Crl {
  const top = readSingle(der, 'CRL');
  const parts = sequence(der, top, 'CRL');
  if (parts.length !== 3) throw new DerError('CRL: expected tbsCertList, signatureAlgorithm and signatureValue');
  const tbsParts = sequence(der, parts[0], 'tbsCertList');
  const problems: string[] = [];
  let i = 0;
  let version: number | undefined;
  if (tbsParts[i] && isUniversal(tbsParts[i], T.INTEGER)) version = readSmallInt(der, tbsParts[i++], 'CRL version');
  if (version !== undefined && version !== 1) throw new DerError(`CRL version ${version + 1} is not defined (RFC 5280 5.1.2.1: v2 is 1)`);
  const next = (what: string) => {
    const t = tbsParts[i++];
    if (!t) throw new DerError(`tbsCertList: missing ${what}`);
    return t;
  };
  const tbsSignatureAlg = parseAlgorithmId(der, next('signature'), 'tbsCertList.signature');
  const issuer = parseName(der, next('issuer'), 'CRL issuer');
  const thisUpdate = readTime(der, next('thisUpdate'), 'thisUpdate');
  let nextUpdate: DerTime | undefined;
  if (tbsParts[i] && (isUniversal(tbsParts[i], T.UTC_TIME) || isUniversal(tbsParts[i], T.GENERALIZED_TIME))) nextUpdate = readTime(der, tbsParts[i++], 'nextUpdate');
  if (!nextUpdate) throw new DerError('CRL has no nextUpdate (RFC 5280 5.1.2.5)');
  if (!timeEncodingOk(thisUpdate) || !timeEncodingOk(nextUpdate)) throw new DerError('CRL dates from 1950 to 2049 must be UTCTime, others GeneralizedTime (RFC 5280 5.1.2.4)');
  const entries: CrlEntry[] = [];
  if (tbsParts[i] && isUniversal(tbsParts[i], T.SEQUENCE)) {
    for (const e of children(der, tbsParts[i++])) {
      const f = sequence(der, e, 'revokedCertificate');
      if (f.length < 2 || f.length > 3) throw new DerError('revokedCertificate: malformed entry');
      const entry: CrlEntry = {
        serialHex: serialToHex(readIntegerBytes(der, f[0], 'userCertificate')),
        revocationDate: readTime(der, f[1], 'revocationDate'),
        extensions: f[2] ? parseExtensions(der, f[2], 'crlEntryExtensions') : [],
      };
      for (const x of entry.extensions) {
        if (x.oid !== EXT.crlReason) continue;
        try {
          entry.reason = readSmallInt(x.value, readSingle(x.value, 'reasonCode'), 'reasonCode', T.ENUMERATED);
        } catch (err) {
          problems.push(`malformed reasonCode: ${(err as Error).message}`);
        }
      }
      entries.push(entry);
    }
  }
  let extensions: Extension[] = [];
  if (tbsParts[i] && isContext(tbsParts[i], 0) && tbsParts[i].constructed) {
    const inner = children(der, tbsParts[i++]);
    if (inner.length !== 1) throw new DerError('tbsCertList: malformed crlExtensions');
    extensions = parseExtensions(der, inner[0], 'crlExtensions');
  }
  if (i !== tbsParts.length) throw new DerError('tbsCertList: unexpected trailing fields');
  const crl: Crl = {
    der,
    tbs: raw(der, parts[0]),
    version,
    tbsSignatureAlg,
    signatureAlg: parseAlgorithmId(der, parts[1], 'signatureAlgorithm'),
    signature: readBitString(der, parts[2], 'signatureValue').bytes,
    issuer,
    thisUpdate,
    nextUpdate,
    entries,
    extensions,
    problems,
  };
  const idpExt = extensions.find((x) => x.oid === EXT.issuingDistributionPoint);
  if (idpExt) {
    try {
      crl.idp = parseIdp(idpExt.value);
    } catch (err) {
      problems.push(`malformed issuingDistributionPoint: ${(err as Error).message}`);
    }
  }
  return crl;
}

const KNOWN_CRL_EXTENSIONS = new Set<string>([EXT.crlNumber, EXT.authorityKeyIdentifier, EXT.issuingDistributionPoint, EXT.issuerAltName, EXT.freshestCrl]);
const KNOWN_ENTRY_EXTENSIONS = new Set<string>([EXT.crlReason, EXT.invalidityDate]);

function timeEncodingOk(t: DerTime): boolean {
  const inUtcRange = t.year >= 1950 && t.year <= 2049;
  return inUtcRange ? t.kind === 'utc' : t.kind === 'generalized';
}

/**
 * Checks that `crl` is a usable, correctly signed CRL issued by `issuer` at time `at`.
 * Returns the list of problems (empty when the CRL can be relied upon).
 */
export function crlProblems(crl: Crl, issuer: Certificate, at: number): string[] {
  const out = [...crl.problems];
  if (crl.version !== 1) out.push('only X.509 v2 CRLs are supported');
  if (!bytesEqual(crl.tbsSignatureAlg.der, crl.signatureAlg.der)) out.push('signatureAlgorithm does not match the tbsCertList signature field');
  const ku = issuer.ext.keyUsage;
  if (ku?.ok && !ku.value.cRLSign) out.push('the issuer keyUsage does not assert cRLSign');
  const sigProblem = verifySignature(crl.tbs, crl.signature, sigAlgInfo(crl.signatureAlg), publicKeyObject(issuer));
  if (sigProblem) out.push(`CRL signature: ${sigProblem}`);
  if (crl.thisUpdate.ms > at) out.push('CRL thisUpdate is after the validation time');
  if (crl.nextUpdate && crl.nextUpdate.ms < at) out.push('CRL nextUpdate is before the validation time (stale CRL)');
  if (crl.nextUpdate && crl.nextUpdate.ms < crl.thisUpdate.ms) out.push('CRL nextUpdate precedes thisUpdate');
  const seen = new Set<string>();
  for (const x of crl.extensions) {
    if (seen.has(x.oid)) out.push(`duplicate CRL extension ${x.oid}`);
    seen.add(x.oid);
    if (x.oid === EXT.deltaCrlIndicator) out.push('delta CRLs are not supported');
    else if (x.critical && x.oid !== EXT.issuingDistributionPoint && !KNOWN_CRL_EXTENSIONS.has(x.oid)) out.push(`unknown critical CRL extension ${x.oid}`);
  }
  const crlNumber = crl.extensions.find((x) => x.oid === EXT.crlNumber);
  if (!crlNumber) out.push('CRL has no cRLNumber extension');
  else {
    if (crlNumber.critical) out.push('cRLNumber must not be critical');
    try {
      const n = readIntegerBytes(crlNumber.value, readSingle(crlNumber.value, 'cRLNumber'), 'cRLNumber');
      if (n[0] & 0x80) out.push('cRLNumber is negative');
      if (n.length > 21 || (n.length === 21 && n[0] !== 0)) out.push('cRLNumber is longer than 20 octets');
    } catch (err) {
      out.push(`malformed cRLNumber: ${(err as Error).message}`);
    }
  }
  const serials = new Set<string>();
  for (const e of crl.entries) {
    if (serials.has(e.serialHex)) out.push(`serial ${e.serialHex} is listed more than once`);
    serials.add(e.serialHex);
    for (const x of e.extensions) {
      if (x.critical && !KNOWN_ENTRY_EXTENSIONS.has(x.oid)) out.push(`CRL entry ${e.serialHex} has an unknown critical extension ${x.oid}`);
    }
  }
  return [...new Set(out)];
}

function uris(names: DistributionPointName | undefined): string[] | undefined {
  if (!names?.fullName) return undefined;
  const out: string[] = [];
  for (const n of names.fullName) {
    if (n.type !== 'uri') return undefined;
    out.push(n.value);
  }
  return out;
}

/** Undefined when the CRL's scope (issuingDistributionPoint) covers `cert`, else why not. */
export function crlScopeProblem(crl: Crl, cert: Certificate): string | undefined {
  const idp = crl.idp;
  if (!idp) return undefined;
  const isCa = cert.ext.basicConstraints?.ok === true && cert.ext.basicConstraints.value.ca;
  if (idp.onlySomeReasons) return 'CRLs partitioned by reason code are not supported';
  if (idp.indirect) return 'indirect CRLs are not supported';
  if (idp.onlyAttribute) return 'the CRL only covers attribute certificates';
  if (idp.onlyUser && isCa) return 'the CRL only covers end-entity certificates';
  if (idp.onlyCa && !isCa) return 'the CRL only covers CA certificates';
  if (idp.name) {
    const idpUris = uris(idp.name);
    if (!idpUris) return 'the CRL issuingDistributionPoint must be a fullName of URIs';
    const cdp = cert.ext.crlDistributionPoints;
    if (!cdp?.ok) return 'the CRL is partitioned but the certificate has no usable cRLDistributionPoints';
    for (const dp of cdp.value) {
      const certUris = uris(dp.name);
      if (!certUris) return 'the certificate cRLDistributionPoints must be a fullName of URIs';
      if (certUris.some((u) => idpUris.includes(u))) return undefined;
    }
    return 'the CRL distribution point does not match the certificate cRLDistributionPoints';
  }
  return undefined;
}

export function findRevocation(crl: Crl, cert: Certificate): CrlEntry | undefined {
  return crl.entries.find((e) => e.serialHex === cert.serialHex && e.reason !== 8);
}
