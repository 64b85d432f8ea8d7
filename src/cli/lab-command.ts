import { resolve } from 'node:path';
import type { Command } from 'commander';
import { InvalidArgumentError, Option } from 'commander';
import { labDown, labKinit, labKillDs, labStartHost, labStatus, labStopHost, labUp } from '../lab/lab.js';
import { LabPaths } from '../lab/paths.js';
import { LAB_DEFAULTS, type LabOptions } from '../lab/spec.js';
import { shellQuote } from '../transport/shell.js';
import type { Wrap } from './command-env.js';
import { table } from './output.js';

function wholeNumber(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('must be a whole number');
  return Number(value);
}

function dirOption(): Option {
  return new Option('--dir <dir>', `lab folder (default: ${LabPaths.default().root})`);
}

function pathsOf(opts: { dir?: string }): LabPaths {
  return opts.dir ? new LabPaths(opts.dir) : LabPaths.default();
}

export function registerLabCommands(program: Command, wrap: Wrap): void {
  const lab = program
    .command('lab')
    .description('the embedded lab: real replicated 389-DS hosts on this machine (needs root)');
  registerUp(lab, wrap);
  registerDown(lab, wrap);
  registerStatus(lab, wrap);
  registerKinit(lab, wrap);
  registerHostCommands(lab, wrap);
}

function registerUp(lab: Command, wrap: Wrap): void {
  lab
    .command('up')
    .description(
      'build N hosts a.ipa.test, b.ipa.test, … on 127.0.10.1, .2, … each with its own sshd and 389-DS, replicated',
    )
    .option('--hosts <n>', 'number of hosts', wholeNumber, LAB_DEFAULTS.hosts)
    .option('--topology <shape>', 'domain agreements: chain | star | ring | mesh | "a-b,b-c,…"', LAB_DEFAULTS.topology)
    .option('--ca <hosts>', 'hosts that serve the CA suffix o=ipaca ("a,b"; "none" for none)', LAB_DEFAULTS.ca)
    .option('--ca-topology <shape>', 'CA agreements among the CA hosts (default: chain)')
    .option(
      '--entries <n>',
      'users loaded into the domain suffix (and n/10 entries into o=ipaca)',
      wholeNumber,
      LAB_DEFAULTS.entries,
    )
    .option(
      '--data <profile>',
      "flat: inetOrgPerson users and groups; ipa: FreeIPA's layout, schema and plugins (memberOf, referential " +
        'integrity, user private groups, DNA) with sample users, groups, hosts, sudo and HBAC rules',
      LAB_DEFAULTS.data,
    )
    .option(
      '--net <a.b.c>',
      'loopback network of the hosts: host N gets <a.b.c>.N (another value lets labs coexist)',
      LAB_DEFAULTS.net,
    )
    .option(
      '--kerberos',
      'a Kerberos realm too: a KDC on <a.b.c>.250, host keytabs, sshd accepting GSSAPI logins, and ' +
        'inventory-kerberos.yaml (transport openssh, no key); get a ticket with lab kinit',
      LAB_DEFAULTS.kerberos,
    )
    .option(
      '--init <mode>',
      "how replicas get the data: online (total updates over the agreements) or ldif (the first host's " +
        'export imported on every other host; much faster for large --entries)',
      LAB_DEFAULTS.init,
    )
    .option('--sudo-user <name>', 'hosts refuse root logins; log in as this user (made if missing) and sudo to root')
    .option('--sudo-password-file <file>', "the --sudo-user's password, which sudo asks for (set with chpasswd)")
    .option('--sudo-nopasswd', 'the --sudo-user may sudo without a password (NOPASSWD)')
    .addOption(dirOption())
    .addHelpText(
      'after',
      '\nNeeds root; installs 389-ds-base and openssh-server with apt-get when missing (with --kerberos also ' +
        'krb5-kdc, krb5-admin-server and krb5-user).\nExit code: 0 built; 2 bad options, a lab already in ' +
        '--dir, or an address in use; 1 failed (what was built is taken down again).',
    )
    .action(
      wrap(async ({ out, ctx }, opts: UpOptions) => {
        const state = await labUp(pathsOf(opts), labOptionsOf(opts), ctx, (l) => out.progress(l));
        if (out.opts.json) out.json({ dir: pathsOf(opts).root, inventory: pathsOf(opts).inventory, ...state });
      }),
    );
}

function registerDown(lab: Command, wrap: Wrap): void {
  lab
    .command('down')
    .description("end the lab's own processes (by pid) and remove its folder")
    .addOption(dirOption())
    .addHelpText('after', '\nExit code: 0 taken down; 2 no lab in --dir; 1 failed.')
    .action(
      wrap(async ({ out }, opts: { dir?: string }) => {
        await labDown(pathsOf(opts), (l) => out.progress(l));
      }),
    );
}

function registerStatus(lab: Command, wrap: Wrap): void {
  lab
    .command('status')
    .description('per host: sshd up, ns-slapd up, entries per suffix')
    .addOption(dirOption())
    .addHelpText('after', '\nExit code: 0 (also when hosts are down: read the table); 2 no lab in --dir.')
    .action(
      wrap(async ({ out, ctx }, opts: { dir?: string }) => {
        const status = await labStatus(pathsOf(opts), ctx);
        if (out.opts.json) return out.json(status);
        out.line(
          table([
            ['HOST', 'ADDRESS', 'SSH', 'DS', 'ENTRIES'],
            ...status.map((s) => [
              s.host,
              s.address,
              s.ssh ? out.ok('up') : out.bad('down'),
              s.ds ? out.ok('up') : out.bad('down'),
              s.error ??
                (Object.entries(s.entries)
                  .map(([k, v]) => `${k}=${v}`)
                  .join(' ') ||
                  '-'),
            ]),
          ]),
        );
      }),
    );
}

function registerKinit(lab: Command, wrap: Wrap): void {
  lab
    .command('kinit')
    .description(
      "a Kerberos ticket for root@REALM (a lab built with --kerberos) in the lab's credential cache; prints the " +
        'KRB5_CONFIG and KRB5CCNAME that use it as shell export lines (eval "$(ipa-fleet lab kinit)")',
    )
    .addOption(dirOption())
    .addHelpText(
      'after',
      "\nThe password comes from the lab's 0600 file and goes to kinit on stdin.\n" +
        'Exit code: 0 ticket obtained; 2 no lab in --dir, or a lab without a realm; 1 kinit failed.',
    )
    .action(
      wrap(async ({ out }, opts: { dir?: string }) => {
        const { principal, env } = await labKinit(pathsOf(opts));
        if (out.opts.json) return out.json({ principal, ...env });
        // Shell lines only (the first a comment), so that eval "$(ipa-fleet lab kinit)" sets both.
        out.line(`# lab: a ticket for ${principal} in ${env.KRB5CCNAME}`);
        for (const [name, value] of Object.entries(env)) out.line(`export ${name}=${shellQuote(value)}`);
      }),
    );
}

/** stop, start and kill-ds: one host of the lab. */
function registerHostCommands(lab: Command, wrap: Wrap): void {
  lab
    .command('stop')
    .argument('<host>', 'lab host (a, a.ipa.test or its address)')
    .description('"power off" a host: ns-slapd and sshd stopped, data kept')
    .addOption(dirOption())
    .addHelpText('after', '\nExit code: 0 done; 2 no lab in --dir or no such lab host; 1 failed.')
    .action(
      wrap(async ({ out }, host: string, opts: { dir?: string }) => {
        await labStopHost(pathsOf(opts), host, (l) => out.progress(l));
      }),
    );

  lab
    .command('start')
    .argument('<host>', 'lab host (a, a.ipa.test or its address)')
    .description('"power on" a host stopped with lab stop (or whose ns-slapd was killed)')
    .addOption(dirOption())
    .addHelpText('after', '\nExit code: 0 done; 2 no lab in --dir or no such lab host; 1 failed.')
    .action(
      wrap(async ({ out, ctx }, host: string, opts: { dir?: string }) => {
        await labStartHost(pathsOf(opts), host, ctx, (l) => out.progress(l));
      }),
    );

  lab
    .command('kill-ds')
    .argument('<host>', 'lab host (a, a.ipa.test or its address)')
    .description("crash a host's directory server (SIGKILL to its ns-slapd)")
    .addOption(dirOption())
    .addHelpText('after', '\nExit code: 0 done; 2 no lab in --dir or no such lab host; 1 failed.')
    .action(
      wrap(async ({ out }, host: string, opts: { dir?: string }) => {
        await labKillDs(pathsOf(opts), host, (l) => out.progress(l));
      }),
    );
}

interface UpOptions {
  hosts: number;
  topology: string;
  ca: string;
  caTopology?: string;
  entries: number;
  net: string;
  data: string;
  kerberos: boolean;
  dir?: string;
  sudoUser?: string;
  sudoPasswordFile?: string;
  sudoNopasswd?: boolean;
  init: string;
}

function labOptionsOf(opts: UpOptions): LabOptions {
  return {
    hosts: opts.hosts,
    topology: opts.topology,
    ca: opts.ca,
    caTopology: opts.caTopology,
    entries: opts.entries,
    net: opts.net,
    data: opts.data,
    kerberos: opts.kerberos,
    sudoUser: opts.sudoUser,
    sudoPasswordFile: opts.sudoPasswordFile ? resolve(opts.sudoPasswordFile) : undefined,
    sudoNopasswd: opts.sudoNopasswd,
    init: opts.init,
  };
}
