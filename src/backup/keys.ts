// OpenPGP keys for snapshots: the recipients a backup is encrypted to, and the private key that
// verify and restore decrypt with.
//
// The recipients are loaded and checked by `loadRecipients` BEFORE any host is touched: a backup
// of a whole fleet must not run for an hour and then fail (or, worse, silently skip encryption)
// because one key file is expired. The controller only ever needs public keys to back up, so a
// file holding a private key is refused rather than quietly used: that key belongs in a vault,
// not on the box that runs the schedule.

import { readFile } from 'node:fs/promises';
import * as openpgp from 'openpgp';
import type { Key, PrivateKey, PublicKey } from 'openpgp';
import { FleetError } from '../errors.js';

export type { PrivateKey } from 'openpgp';

export interface Recipients {
  keys: PublicKey[];
  /** Primary-key fingerprints, upper-case hex as `gpg --list-keys` prints them; one per key. */
  fingerprints: string[];
}

/**
 * Load every recipient key file (armored or binary; a file may hold several public keys) and check
 * that each key can be encrypted to now: not revoked, not expired, with a valid encryption-capable
 * (sub)key. Any problem is a FleetError 'usage' naming the file. Keys listed twice are kept once.
 */
export async function loadRecipients(files: string[], now: Date = new Date()): Promise<Recipients> {
  if (files.length === 0) {
    throw new FleetError('usage', 'no recipient key given: name a public key file (or back up with --no-encrypt)');
  }
  const keys: PublicKey[] = [];
  const fingerprints: string[] = [];
  for (const file of files) {
    const found = await readKeyFile(file);
    for (const key of found) {
      if (key.isPrivate()) {
        throw new FleetError(
          'usage',
          `${file} holds a private key: give the public key instead (gpg --export --armor KEYID); ` +
            'the controller needs no private key to back up',
        );
      }
      const problem = await encryptionProblem(key, now);
      if (problem !== undefined) throw new FleetError('usage', `cannot encrypt to ${file}: ${problem}`);
      const fingerprint = key.getFingerprint().toUpperCase();
      if (fingerprints.includes(fingerprint)) continue;
      keys.push(key as PublicKey);
      fingerprints.push(fingerprint);
    }
  }
  return { keys, fingerprints };
}

/** Why `key` cannot be encrypted to at `now`, or undefined when it can. */
async function encryptionProblem(key: Key, now: Date = new Date()): Promise<string | undefined> {
  try {
    if (await key.isRevoked(undefined, undefined, now)) return 'the key is revoked';
  } catch (err) {
    return `the key cannot be checked (${errorText(err)})`;
  }
  let expires: Date | number | null;
  try {
    expires = await key.getExpirationTime();
  } catch (err) {
    return `the key has no valid self-signature (${errorText(err)})`;
  }
  if (expires instanceof Date && expires.getTime() <= now.getTime()) {
    return `the key expired on ${expires.toISOString()}`;
  }
  try {
    await key.verifyPrimaryKey(now);
  } catch (err) {
    return `the key is not valid (${errorText(err)})`;
  }
  try {
    await key.getEncryptionKey(undefined, now);
  } catch (err) {
    return `the key has no valid encryption-capable subkey (${errorText(err)})`;
  }
  return undefined;
}

/**
 * Load a private key and unlock it. A wrong passphrase is a FleetError 'auth'
 * ("cannot unlock <file>: wrong passphrase"); the passphrase never appears in a message.
 */
export async function loadPrivateKey(file: string, passphrase?: string): Promise<PrivateKey> {
  const bytes = await readBytes(file, 'private key');
  let key: PrivateKey;
  try {
    key = isArmored(bytes)
      ? await openpgp.readPrivateKey({ armoredKey: bytes.toString('utf8') })
      : await openpgp.readPrivateKey({ binaryKey: bytes });
  } catch (err) {
    throw new FleetError('usage', `${file} is not an OpenPGP private key (${errorText(err)})`);
  }
  if (key.isDecrypted()) return key;
  if (passphrase === undefined || passphrase === '') {
    throw new FleetError('auth', `cannot unlock ${file}: the key is protected by a passphrase and none was given`);
  }
  try {
    return await openpgp.decryptKey({ privateKey: key, passphrase });
  } catch {
    // openpgp's message does not echo the passphrase, but the cause is dropped all the same so
    // nothing derived from the secret can reach a log through `cause`.
    throw new FleetError('auth', `cannot unlock ${file}: wrong passphrase`);
  }
}

async function readKeyFile(file: string): Promise<Key[]> {
  const bytes = await readBytes(file, 'recipient key');
  try {
    const keys = isArmored(bytes)
      ? await openpgp.readKeys({ armoredKeys: bytes.toString('utf8') })
      : await openpgp.readKeys({ binaryKeys: bytes });
    if (keys.length === 0) throw new Error('no key found');
    return keys;
  } catch (err) {
    throw new FleetError('usage', `${file} is not an OpenPGP public key (${errorText(err)})`);
  }
}

async function readBytes(file: string, what: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (err) {
    throw new FleetError('usage', `cannot read ${what} ${file}: ${errorText(err)}`);
  }
}

function isArmored(bytes: Buffer): boolean {
  return bytes.subarray(0, 4096).toString('latin1').includes('-----BEGIN PGP ');
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
