// The actions and selectors playbooks can use. Later milestones add backup, fence, restore, …
import { auditAction } from './audit.js';
import { backupAction } from './backup.js';
import { execAction } from './exec.js';
import { factsAction } from './facts.js';
import { pauseAction } from './pause.js';
import { ActionRegistry } from './registry.js';
import { peersOf, withRole } from './selectors.js';

export function defaultRegistry(): ActionRegistry {
  return new ActionRegistry([auditAction, backupAction, execAction, factsAction, pauseAction], [peersOf, withRole]);
}

export { ActionRegistry } from './registry.js';
export type * from './action.js';
