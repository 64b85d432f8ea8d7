// The realm of `lab up --kerberos`: an MIT KDC owned by the lab (its own kdc.conf, database and stash in
// the lab folder, started and ended by pid like the hosts' daemons), a host principal and keytab per lab
// host, and root@REALM, whose password stays in a 0600 lab file. Passwords travel on stdin only.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { FleetError } from '../errors.js';
import { KDC_PORT, kdcConf, krb5Conf } from './kerberos-files.js';
import type { LabPaths } from './paths.js';
import { readPid, runWithInput, spawnDetached, stopProcess, waitForPort } from './processes.js';
import type { LabRealm, LabSpec } from './spec.js';

const KDC = 'krb5kdc';
/** What `--kerberos` needs on this machine (krb5-config writes /etc/krb5.conf, which a host's own file covers). */
export const KERBEROS_PACKAGES = ['krb5-kdc', 'krb5-admin-server', 'krb5-user'];
const KERBEROS_FILES = [
  '/usr/sbin/krb5kdc',
  '/usr/sbin/kdb5_util',
  '/usr/sbin/kadmin.local',
  '/usr/bin/kinit',
  '/etc/krb5.conf',
];

/** The user principal the lab's controller logs in as: root@REALM, root on the hosts by auth_to_local. */
export function rootPrincipal(realm: LabRealm): string {
  return `root@${realm.realm}`;
}

/** The environment a Kerberos tool (or ssh, or ipa-fleet) needs to use the lab's realm and ticket. */
export function realmEnv(paths: LabPaths): { KRB5_CONFIG: string; KRB5CCNAME: string } {
  return { KRB5_CONFIG: paths.krb5Conf, KRB5CCNAME: `FILE:${paths.credentialCache}` };
}

/** Runs a Kerberos admin tool of the lab's KDC; `input` (passwords) goes on stdin, never in argv. */
async function kdcTool(paths: LabPaths, command: string, args: string[], input = '', cwd?: string): Promise<string> {
  const env = { ...process.env, KRB5_CONFIG: paths.krb5Conf, KRB5_KDC_PROFILE: paths.kdcConf };
  try {
    return await runWithInput(command, args, input, { env, ...(cwd ? { cwd } : {}) });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    const why = (e.stderr ?? '').trim().split('\n').pop() || e.message.split('\n')[0];
    throw new FleetError('failure', `lab: ${command} ${args.join(' ')} failed: ${why}`);
  }
}

/** One kadmin.local query (principal names only in argv; a password, when asked for, on stdin). */
async function kadmin(paths: LabPaths, realm: LabRealm, query: string, input = '', cwd?: string): Promise<void> {
  await kdcTool(paths, 'kadmin.local', ['-r', realm.realm, '-q', query], input, cwd);
}

/** The files of the realm, written before the hosts boot (each host mounts its krb5.conf). */
export async function writeRealmFiles(paths: LabPaths, spec: LabSpec, realm: LabRealm): Promise<void> {
  await mkdir(paths.kdcDir, { recursive: true, mode: 0o700 });
  await writeFile(paths.kdcConf, kdcConf(paths, realm), { mode: 0o600 });
  await writeFile(paths.krb5Conf, krb5Conf(realm), { mode: 0o644 });
  for (const host of spec.hosts) {
    await writeFile(paths.hostKrb5Conf(host.fqdn), krb5Conf(realm, paths.keytab(host.fqdn)), { mode: 0o644 });
  }
}

/**
 * The database (master key in the stash only: its random password is given on stdin and forgotten),
 * the principals and keytabs, then the KDC on the realm's address.
 */
export async function createRealm(paths: LabPaths, spec: LabSpec, realm: LabRealm): Promise<void> {
  const master = randomBytes(24).toString('base64url');
  await kdcTool(paths, 'kdb5_util', ['-r', realm.realm, 'create', '-s'], `${master}\n${master}\n`);
  for (const host of spec.hosts) {
    const principals = [`host/${host.fqdn}`, `host/${host.address}`];
    for (const p of principals) await kadmin(paths, realm, `addprinc -randkey ${p}`);
    // Named relative to the host's folder: kadmin's query line splits at spaces, a lab folder may have some.
    const keytab = paths.keytab(host.fqdn);
    const query = `ktadd -k ${basename(keytab)} -norandkey ${principals.join(' ')}`;
    await kadmin(paths, realm, query, '', dirname(keytab));
    await chmod(keytab, 0o600);
  }
  const password = randomBytes(18).toString('base64url');
  await writeFile(paths.rootPrincipalPassword, `${password}\n`, { mode: 0o600 });
  await kadmin(paths, realm, `addprinc ${rootPrincipal(realm)}`, `${password}\n${password}\n`);
  await startKdc(paths, realm);
}

async function startKdc(paths: LabPaths, realm: LabRealm): Promise<void> {
  const env = { ...process.env, KRB5_CONFIG: paths.krb5Conf, KRB5_KDC_PROFILE: paths.kdcConf };
  // -n: in the foreground, so the pid is the KDC's own and `lab down` ends it by that pid.
  const pid = spawnDetached(KDC, ['-n'], join(paths.kdcDir, 'krb5kdc.out'), env);
  await writeFile(paths.kdcPidFile, `${pid}\n`);
  if (!(await waitForPort(realm.kdcAddress, KDC_PORT, 15_000))) {
    const log = await readFile(join(paths.kdcDir, 'kdc.log'), 'utf8').catch(() => '');
    throw new FleetError(
      'failure',
      `lab: the KDC did not come up on ${realm.kdcAddress}:${KDC_PORT}: ${log.trim().split('\n').pop() ?? ''}`,
    );
  }
}

/** Ends the lab's KDC by its recorded pid; false when it was not running. */
export async function stopKdc(paths: LabPaths): Promise<boolean> {
  return stopProcess(await readPid(paths.kdcPidFile), KDC, 10_000);
}

/** The lab's Kerberos tools and /etc/krb5.conf (each host's own file is mounted over it) are missing. */
export function missingKerberosFiles(): string[] {
  return KERBEROS_FILES.filter((f) => !existsSync(f));
}

/** A ticket for root@REALM in the lab's credential cache: kinit with the password on stdin. */
export async function kinitRoot(paths: LabPaths, realm: LabRealm): Promise<void> {
  const password = (await readFile(paths.rootPrincipalPassword, 'utf8')).trim();
  try {
    await runWithInput('kinit', [rootPrincipal(realm)], `${password}\n`, {
      env: { ...process.env, ...realmEnv(paths) },
    });
  } catch (err) {
    const why = ((err as { stderr?: string }).stderr ?? '').trim().split('\n').pop() ?? '';
    throw new FleetError('failure', `lab: kinit ${rootPrincipal(realm)} failed: ${why}`);
  }
}
