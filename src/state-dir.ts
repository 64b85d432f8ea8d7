import { homedir } from 'node:os';
import { join } from 'node:path';

/** The user's state directory for ipa-fleet: $XDG_STATE_HOME/ipa-fleet or ~/.local/state/ipa-fleet. */
export function stateDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_STATE_HOME?.startsWith('/') ? env.XDG_STATE_HOME : join(homedir(), '.local', 'state');
  return join(base, 'ipa-fleet');
}

export function defaultLogFile(env: NodeJS.ProcessEnv = process.env): string {
  return join(stateDir(env), 'ipa-fleet.log');
}
