// The files of `lab up --kerberos`'s realm (src/lab/kerberos-files.ts) and what --kerberos adds to a host's
// sshd_config and boot script, read back with a parser of MIT's profile syntax (quoted strings unescaped as
// prof_parse.c does), for a plain lab folder and one whose path has spaces, quotes and backslashes.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { bootScript, sshdConfig } from '../../src/lab/host-files.js';
import { kdcConf, krb5Conf } from '../../src/lab/kerberos-files.js';
import { LabPaths } from '../../src/lab/paths.js';
import { LAB_DEFAULTS, labSpec, type LabRealm } from '../../src/lab/spec.js';

type Profile = Map<string, Map<string, string[] | Map<string, string[]>>>;

/** MIT profile value: a quoted string loses its quotes and backslash escapes; otherwise as written. */
function profileValue(raw: string): string {
  if (!raw.startsWith('"')) return raw;
  let out = '';
  for (let i = 1; i < raw.length && raw[i] !== '"'; i++) {
    if (raw[i] === '\\') {
      i++;
      out += raw[i] === 'n' ? '\n' : raw[i] === 't' ? '\t' : raw[i];
    } else out += raw[i];
  }
  return out;
}

/** [section] → tag → values, or → relation { tag → values } (one level, as the lab's files use). */
function parseProfile(text: string): Profile {
  const profile: Profile = new Map();
  let section: Map<string, string[] | Map<string, string[]>> | undefined;
  let group: Map<string, string[]> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      assert.ok(!profile.has(header[1]!), `section ${header[1]} twice`);
      section = new Map();
      profile.set(header[1]!, section);
      continue;
    }
    assert.ok(section, `'${line}' before any section`);
    if (line === '}') {
      assert.ok(group, 'a } without {');
      group = undefined;
      continue;
    }
    const open = /^(\S+) = \{$/.exec(line);
    if (open) {
      group = new Map();
      section.set(open[1]!, group);
      continue;
    }
    const kv = /^(\S+) = (.+)$/.exec(line);
    assert.ok(kv, `not a profile line: '${line}'`);
    const target = group ?? (section as Map<string, string[]>);
    target.set(kv[1]!, [...((target.get(kv[1]!) as string[] | undefined) ?? []), profileValue(kv[2]!)]);
  }
  assert.equal(group, undefined, 'a { never closed');
  return profile;
}

function tag(p: Profile, section: string, name: string): string[] | undefined {
  return p.get(section)?.get(name) as string[] | undefined;
}

function relation(p: Profile, section: string, name: string): Map<string, string[]> {
  const value = p.get(section)?.get(name);
  assert.ok(value instanceof Map, `[${section}] ${name} is not a { } relation`);
  return value;
}

const REALM: LabRealm = { realm: 'IPA.TEST', kdcAddress: '127.0.10.250' };
const ROOTS = ['/var/lib/ipa-fleet/lab', `/tmp/it's a "lab" \\ with spaces`];

describe('labSpec --kerberos', () => {
  it('names the realm after the lab domain and puts the KDC on <net>.250, clear of the hosts and the claim', () => {
    assert.equal(labSpec(LAB_DEFAULTS).kerberos, undefined);
    const spec = labSpec({ ...LAB_DEFAULTS, kerberos: true, net: '127.0.33', hosts: 26, ca: 'none' });
    assert.deepEqual(spec.kerberos, { realm: 'IPA.TEST', kdcAddress: '127.0.33.250' });
    assert.ok(spec.hosts.every((h) => h.address !== spec.kerberos!.kdcAddress));
    // test/lab/fixture.ts claimNet holds <net>.254.
    assert.notEqual(spec.kerberos!.kdcAddress, '127.0.33.254');
    for (const h of spec.hosts) assert.equal(h.fqdn.endsWith(`.${spec.kerberos!.realm.toLowerCase()}`), true);
  });
});

describe('kdcConf', () => {
  for (const root of ROOTS) {
    it(`listens on the realm's address only and keeps everything in the lab's kdc folder (${root})`, () => {
      const paths = new LabPaths(root);
      const p = parseProfile(kdcConf(paths, REALM));
      assert.deepEqual([...p.keys()], ['kdcdefaults', 'realms', 'logging']);
      assert.deepEqual(tag(p, 'kdcdefaults', 'kdc_listen'), ['127.0.10.250:88']);
      assert.deepEqual(tag(p, 'kdcdefaults', 'kdc_tcp_listen'), ['127.0.10.250:88']);
      assert.deepEqual([...p.get('realms')!.keys()], ['IPA.TEST']);
      const realm = relation(p, 'realms', 'IPA.TEST');
      assert.deepEqual(realm.get('database_name'), [`${paths.kdcDir}/principal`]);
      assert.deepEqual(realm.get('key_stash_file'), [`${paths.kdcDir}/stash`]);
      assert.deepEqual(realm.get('default_principal_flags'), ['+preauth']);
      assert.deepEqual(tag(p, 'logging', 'kdc'), [`FILE:${paths.kdcDir}/kdc.log`]);
      assert.deepEqual(tag(p, 'logging', 'admin_server'), [`FILE:${paths.kdcDir}/kadmin.log`]);
    });
  }
});

describe('krb5Conf', () => {
  it("the controller's: the realm's KDC, nothing from DNS, host names never canonicalized, no keytab", () => {
    const p = parseProfile(krb5Conf(REALM));
    assert.deepEqual([...p.keys()], ['libdefaults', 'realms', 'domain_realm']);
    const lib = p.get('libdefaults')!;
    assert.deepEqual(Object.fromEntries([...lib].map(([k, v]) => [k, v as string[]])), {
      default_realm: ['IPA.TEST'],
      dns_lookup_kdc: ['false'],
      dns_lookup_realm: ['false'],
      rdns: ['false'],
      dns_canonicalize_hostname: ['false'],
    });
    assert.deepEqual(relation(p, 'realms', 'IPA.TEST').get('kdc'), ['127.0.10.250:88']);
    assert.deepEqual(tag(p, 'domain_realm', '.ipa.test'), ['IPA.TEST']);
    assert.deepEqual(tag(p, 'domain_realm', 'ipa.test'), ['IPA.TEST']);
  });

  for (const root of ROOTS) {
    it(`a host's names its own keytab as the default one, and differs in nothing else (${root})`, () => {
      const keytab = new LabPaths(root).keytab('a.ipa.test');
      const host = parseProfile(krb5Conf(REALM, keytab));
      assert.deepEqual(tag(host, 'libdefaults', 'default_keytab_name'), [`FILE:${keytab}`]);
      host.get('libdefaults')!.delete('default_keytab_name');
      assert.deepEqual(host, parseProfile(krb5Conf(REALM)));
    });
  }
});

describe('sshd_config and boot script of a --kerberos lab', () => {
  const host = labSpec({ ...LAB_DEFAULTS, kerberos: true }).hosts[0]!;
  const paths = new LabPaths(ROOTS[1]!);

  it('sshd accepts GSSAPI logins (any key of the host keytab) and adds nothing else', () => {
    const plain = sshdConfig(paths, host).split('\n');
    const kerberos = sshdConfig(paths, host, { kerberos: REALM }).split('\n');
    const added = kerberos.filter((l) => !plain.includes(l) && !l.startsWith('#'));
    assert.deepEqual(added, ['GSSAPIAuthentication yes', 'GSSAPIStrictAcceptorCheck no']);
    assert.ok(plain.every((l) => kerberos.includes(l)));
    assert.ok(!plain.some((l) => /GSSAPI/.test(l)), 'a lab without a realm has GSSAPI as sshd defaults it');
    assert.ok(kerberos.includes('PasswordAuthentication no'));
  });

  it("mounts the host's krb5.conf on /etc/krb5.conf, after /etc/hosts, and only with --kerberos", () => {
    const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
    const plain = bootScript(paths, host).split('\n');
    const kerberos = bootScript(paths, host, { kerberos: REALM }).split('\n');
    const mount = `mount --bind ${q(paths.hostKrb5Conf(host.fqdn))} /etc/krb5.conf`;
    assert.deepEqual(
      kerberos.filter((l) => !plain.includes(l)),
      [mount],
    );
    assert.equal(kerberos.indexOf(mount), kerberos.findIndex((l) => l.endsWith(' /etc/hosts')) + 1);
    assert.ok(kerberos.indexOf(mount) < kerberos.findIndex((l) => l.startsWith('exec ')));
  });
});
