// Why a Kerberos (GSSAPI) login may have failed, for the openssh transport's error: ssh itself only says
// "Permission denied (…,gssapi-with-mic)", the same words whether the ticket is missing or was refused.
import { execFile } from 'node:child_process';

/** sshd still offered gssapi-with-mic when it gave up: Kerberos could have let us in. */
const GSSAPI_OFFERED = /Permission denied \([^)]*\bgssapi-with-mic\b[^)]*\)/;

/**
 * When the host offered Kerberos and the login failed: whether the controller had a valid ticket
 * (`klist -s`, in the environment ssh ran in). Undefined when Kerberos was not offered or klist is missing.
 */
export async function kerberosHint(
  sshStderr: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string | undefined> {
  if (!GSSAPI_OFFERED.test(sshStderr)) return undefined;
  const ticket = await hasValidTicket(env);
  if (ticket === undefined) return undefined;
  const cache = env.KRB5CCNAME ? ` in ${env.KRB5CCNAME}` : '';
  return ticket
    ? `the host refused the Kerberos ticket${cache} too (its host principal or keytab, or the user it maps you to)`
    : `no valid Kerberos ticket${cache} (klist -s); run kinit first if the host takes Kerberos logins`;
}

/** `klist -s`: exit 0 when the credential cache holds a valid ticket; undefined when there is no klist. */
function hasValidTicket(env: NodeJS.ProcessEnv): Promise<boolean | undefined> {
  return new Promise((resolve) => {
    execFile('klist', ['-s'], { env, timeout: 10_000 }, (err) => {
      if (!err) resolve(true);
      else resolve((err as NodeJS.ErrnoException).code === 'ENOENT' ? undefined : false);
    });
  });
}
