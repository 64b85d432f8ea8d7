// A real Kerberos realm in the lab (lab up --kerberos): MIT's KDC, host keytabs, sshd with GSSAPI. First the
// realm proved with the plain system ssh client (a ticket and no key gets in, no ticket does not), then the
// same for ipa-fleet over `ssh.transport: openssh`. sshd's own log says which method let each login in.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { createRealm, kinitRoot, realmEnv, stopKdc, writeRealmFiles } from '../../src/lab/kerberos.js';
import { LabPaths } from '../../src/lab/paths.js';
import { isRunning, readPid, waitForPort } from '../../src/lab/processes.js';
import { LAB_DEFAULTS, labSpec } from '../../src/lab/spec.js';
import {
  addUsers,
  assertConverged,
  bringUpLab,
  type CliResult,
  cleanError,
  claimNet,
  deleteUsers,
  generation,
  DOMAIN,
  labDirectory,
  type LabDirectory,
  makeKeys,
  type TestLab,
  uids,
  waitForUsers,
} from './fixture.js';

const run = promisify(execFile);
const A = 'a.ipa.test';
const B = 'b.ipa.test';
const HOSTS = [A, B];
const REALM = 'IPA.TEST';

interface Exit {
  code: number;
  stdout: string;
  stderr: string;
}

/** A command's exit code and output (a non-zero exit is a result here, not an error). */
async function runTool(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<Exit> {
  try {
    const { stdout, stderr } = await run(command, args, { env, timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/**
 * This process's environment with the lab's realm and ticket, and no ssh-agent: whatever logs in, a key
 * cannot be what let it.
 */
function kerberosEnv(lab: TestLab): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...realmEnv(lab.paths) };
  delete env.SSH_AUTH_SOCK;
  return env;
}

/** The system ssh client allowed GSSAPI only, with no key of any kind. */
function gssapiSsh(lab: TestLab, address: string, command: string): Promise<Exit> {
  const options = [
    `UserKnownHostsFile=${lab.paths.knownHosts}`,
    'StrictHostKeyChecking=yes',
    'GSSAPIAuthentication=yes',
    'PreferredAuthentications=gssapi-with-mic',
    'BatchMode=yes',
    'IdentitiesOnly=yes',
    'IdentityFile=/dev/null',
    'ConnectTimeout=10',
  ];
  return runTool('ssh', [...options.flatMap((o) => ['-o', o]), `root@${address}`, command], kerberosEnv(lab));
}

/** sshd's log lines of accepted logins on a lab host (sshd -e writes them, ending in \r\n, to its boot.log). */
async function acceptedLogins(lab: TestLab, host: string): Promise<string[]> {
  const log = await readFile(join(lab.paths.hostDir(host), 'boot.log'), 'utf8');
  return log.split(/\r?\n/).filter((l) => l.startsWith('Accepted '));
}

/** The principals a keytab holds, as klist lists them. */
async function keytabPrincipals(keytab: string): Promise<string[]> {
  const { stdout } = await run('klist', ['-k', keytab]);
  const names = stdout
    .split('\n')
    .map((l) => /^\s*\d+\s+(\S+)$/.exec(l)?.[1])
    .filter((p): p is string => p !== undefined);
  return [...new Set(names)].sort();
}

/** Every login sshd accepted on the lab's hosts since `since` (per host, as acceptedLogins counted). */
async function loginsSince(lab: TestLab, since: Map<string, number>): Promise<string[]> {
  const all = await Promise.all(HOSTS.map(async (h) => (await acceptedLogins(lab, h)).slice(since.get(h) ?? 0)));
  return all.flat();
}

async function loginCounts(lab: TestLab): Promise<Map<string, number>> {
  return new Map(await Promise.all(HOSTS.map(async (h) => [h, (await acceptedLogins(lab, h)).length] as const)));
}

describe('a Kerberos realm in the lab', { timeout: 600_000 }, () => {
  let lab: TestLab;
  let dir: LabDirectory;
  let kdcPid: number | undefined;
  const shown = (r: CliResult): string => `exit ${r.code}\n${r.stdout.slice(-4000)}\n${r.stderr}`;
  /** ipa-fleet with the lab's realm and ticket cache, and no ssh-agent. */
  const fleet = (args: string[]): Promise<CliResult> =>
    lab.fleet(args, { env: { ...realmEnv(lab.paths), SSH_AUTH_SOCK: undefined } });
  let downed = false;

  before(async () => {
    lab = await bringUpLab(['--kerberos', '--hosts', '2', '--ca', 'a', '--entries', '20']);
    dir = await labDirectory(lab, 2);
    kdcPid = await readPid(lab.paths.kdcPidFile);
  });
  after(async () => {
    if (!downed) await lab?.down();
  });

  it('each host has a 0600 keytab with its own host principals only; the KDC listens on <net>.250:88', async () => {
    assert.ok(await isRunning(kdcPid, 'krb5kdc'), `no KDC running under pid ${kdcPid}`);
    assert.ok(await waitForPort(`${lab.net}.250`, 88, 5_000), 'nothing answers on port 88 of the KDC address');
    for (const host of HOSTS) {
      const keytab = lab.paths.keytab(host);
      assert.equal((await stat(keytab)).mode & 0o777, 0o600, `${keytab} is not 0600`);
      assert.deepEqual(await keytabPrincipals(keytab), [`host/${dir.address(host)}@${REALM}`, `host/${host}@${REALM}`]);
    }
  });

  it('the system ssh client: a ticket and no key logs in as root by GSSAPI; without a ticket it is refused', async () => {
    const kinit = await lab.fleet(['lab', 'kinit', '--dir', lab.paths.root]);
    assert.equal(kinit.code, 0, kinit.stderr);
    const exports = kinit.stdout.split('\n').filter((l) => l.startsWith('export '));
    assert.deepEqual(exports, [
      `export KRB5_CONFIG=${lab.paths.krb5Conf}`,
      `export KRB5CCNAME=FILE:${lab.paths.credentialCache}`,
    ]);
    const klist = await runTool('klist', [], kerberosEnv(lab));
    assert.match(klist.stdout, new RegExp(`Default principal: root@${REALM}`));

    for (const host of HOSTS) {
      const before = (await acceptedLogins(lab, host)).length;
      const login = await gssapiSsh(lab, dir.address(host), 'hostname && id -u');
      assert.equal(login.code, 0, `${host}: ${login.stderr}`);
      assert.deepEqual(login.stdout.trim().split('\n'), [host, '0']);
      const accepted = (await acceptedLogins(lab, host)).slice(before);
      assert.equal(accepted.length, 1, accepted.join('\n'));
      assert.match(accepted[0]!, new RegExp(`^Accepted gssapi-with-mic for root from .* ssh2: root@${REALM}$`));
    }

    const destroyed = await runTool('kdestroy', [], kerberosEnv(lab));
    assert.equal(destroyed.code, 0, destroyed.stderr);
    for (const host of HOSTS) {
      const before = (await acceptedLogins(lab, host)).length;
      const refused = await gssapiSsh(lab, dir.address(host), 'true');
      assert.equal(refused.code, 255, refused.stdout);
      assert.match(refused.stderr, /Permission denied \(.*gssapi-with-mic.*\)/);
      assert.deepEqual((await acceptedLogins(lab, host)).slice(before), [], `${host} let a login in without a ticket`);
    }
  });

  it('ipa-fleet over transport openssh with a ticket and no key: ping, facts, backup, restore; logins all GSSAPI', async () => {
    // The openssh transport leaves GSSAPI to the ssh configuration, as the administrator's own ssh does.
    const effective = await runTool('ssh', ['-G', dir.address(A)], kerberosEnv(lab));
    assert.match(
      effective.stdout,
      /^gssapiauthentication yes$/m,
      "the system ssh client's configuration does not enable GSSAPIAuthentication (Debian's /etc/ssh/ssh_config does)",
    );
    const inventory = lab.paths.kerberosInventory;
    assert.equal((await lab.fleet(['lab', 'kinit', '--dir', lab.paths.root])).code, 0);
    const since = await loginCounts(lab);

    const ping = await fleet(['ping', '-i', inventory]);
    assert.equal(ping.code, 0, shown(ping));
    for (const h of HOSTS) assert.match(ping.stdout, new RegExp(`^${h}\\s+ok\\s+${h}\\s+ok`, 'm'));
    const facts = await fleet(['--json', 'facts', '-i', inventory]);
    assert.equal(facts.code, 0, shown(facts));
    assert.deepEqual(Object.keys(JSON.parse(facts.stdout) as Record<string, unknown>).sort(), HOSTS);

    const keys = await makeKeys(lab.tmp);
    const store = join(lab.tmp, 'store');
    const backup = await fleet(['backup', '-i', inventory, '--encrypt-to', keys.pub, '--store', store]);
    assert.equal(backup.code, 0, shown(backup));
    const listed = await fleet(['--json', 'backups', 'list', '--store', store]);
    const snapshots = (JSON.parse(listed.stdout) as { snapshots: Array<{ id: string; host: string; type: string }> })
      .snapshots;
    assert.deepEqual(snapshots.map((s) => `${s.host} ${s.type}`).sort(), [`${A} data`, `${B} data`]);

    // Damage after the backup, replicated everywhere; the restore must bring back exactly the snapshot.
    const baseline = await uids(dir, A);
    assert.equal(baseline.length, 20);
    await addUsers(dir, A, ['krb-added']);
    await deleteUsers(dir, B, baseline.slice(0, 2));
    await waitForUsers(dir, [...baseline.slice(2), 'krb-added'].sort());
    const generationBefore = await generation(dir, A, DOMAIN);
    const restore = await fleet([
      'restore',
      '-i',
      inventory,
      '--master',
      A,
      '--backup',
      snapshots.find((s) => s.host === A)!.id,
      '--key',
      keys.sec,
      '--passphrase',
      `file:${keys.pass}`,
      '--store',
      store,
      '--yes',
    ]);
    assert.equal(restore.code, 0, shown(restore));
    await assertConverged(dir, baseline, [A]);
    assert.notEqual(await generation(dir, A, DOMAIN), generationBefore);

    const logins = await loginsSince(lab, since);
    assert.ok(logins.length >= HOSTS.length, `sshd accepted only ${logins.length} login(s)`);
    const other = logins.filter(
      (l) => !l.startsWith('Accepted gssapi-with-mic for root ') || !l.endsWith(`root@${REALM}`),
    );
    assert.deepEqual(other, [], 'a login other than root@REALM by GSSAPI');
  });

  it("a valid ticket the host does not map to the inventory's user: the error says the host refused it", async () => {
    // The same inventory logging in as nobody: root@REALM maps to root only (krb5_kuserok).
    const asNobody = join(lab.paths.root, 'inventory-kerberos-nobody.yaml');
    await writeFile(
      asNobody,
      (await readFile(lab.paths.kerberosInventory, 'utf8')).replace('user: root', 'user: nobody'),
    );
    const since = await loginCounts(lab);
    const ping = await fleet(['ping', '-i', asNobody, '--limit', A]);
    assert.equal(ping.code, 12, shown(ping));
    const line = cleanError(ping.stderr);
    assert.ok(line, `not one clean error line:\n${ping.stderr}`);
    assert.match(
      line,
      new RegExp(
        `^ipa-fleet: error: ${A}: ssh authentication to \\S+ failed: the host refused the Kerberos ticket in `,
      ),
    );
    assert.deepEqual(await loginsSince(lab, since), []);
  });

  it('without a ticket: per host one clear error line naming authentication and the missing Kerberos ticket', async () => {
    assert.equal((await runTool('kdestroy', [], kerberosEnv(lab))).code, 0);
    const since = await loginCounts(lab);
    for (const host of HOSTS) {
      const ping = await fleet(['ping', '-i', lab.paths.kerberosInventory, '--limit', host]);
      assert.equal(ping.code, 12, shown(ping));
      const line = cleanError(ping.stderr);
      assert.ok(line, `not one clean error line:\n${ping.stderr}`);
      const cache = `FILE:${lab.paths.credentialCache}`;
      assert.equal(
        line.replace(/ \(ssh: .*\)$/, ''),
        `ipa-fleet: error: ${host}: ssh authentication to ${dir.address(host)} failed: no valid Kerberos ticket in ` +
          `${cache} (klist -s); run kinit first if the host takes Kerberos logins`,
      );
    }
    assert.deepEqual(await loginsSince(lab, since), []);
  });

  it('lab down ends the KDC', async () => {
    downed = true;
    await lab.down();
    assert.equal(await isRunning(kdcPid, 'krb5kdc'), false, `the KDC (pid ${kdcPid}) still runs`);
    assert.equal(await waitForPort(`${lab.net}.250`, 88, 500), false, 'port 88 of the KDC address still answers');
  });
});

describe('a realm in a lab folder whose path has spaces, quotes and a backslash', { timeout: 120_000 }, () => {
  it('the KDC starts, every host keytab holds its principals, root@REALM gets a ticket', async () => {
    const claim = await claimNet();
    const tmp = await mkdtemp(join(tmpdir(), 'ipa-fleet-test-'));
    const paths = new LabPaths(join(tmp, `it's a "lab" \\ folder`));
    const spec = labSpec({ ...LAB_DEFAULTS, kerberos: true, hosts: 2, net: claim.net });
    const realm = spec.kerberos!;
    try {
      for (const h of spec.hosts) await mkdir(paths.hostDir(h.fqdn), { recursive: true });
      await writeRealmFiles(paths, spec, realm);
      await createRealm(paths, spec, realm);
      for (const h of spec.hosts) {
        // The host's krb5.conf names its keytab as the default one: klist -k without a name reads it.
        const env = { ...process.env, KRB5_CONFIG: paths.hostKrb5Conf(h.fqdn) };
        const { stdout } = await run('klist', ['-k'], { env });
        assert.match(
          stdout,
          new RegExp(`Keytab name: FILE:${paths.keytab(h.fqdn).replace(/[\\^$.*+?()[\]{}|]/g, '\\$&')}`),
        );
        assert.match(stdout, new RegExp(`host/${h.fqdn}@${REALM}`));
      }
      await kinitRoot(paths, realm);
      const klist = await run('klist', [], { env: { ...process.env, ...realmEnv(paths) } });
      assert.match(klist.stdout, new RegExp(`Default principal: root@${REALM}`));
    } finally {
      await stopKdc(paths);
      await rm(tmp, { recursive: true, force: true });
      await claim.release();
    }
  });
});
