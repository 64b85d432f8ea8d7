// The actions and selectors playbooks can use.
import { auditAction } from './audit.js';
import { convergeAction, releaseAction, unfenceAction } from './converge.js';
import { backupAction } from './backup.js';
import { execAction } from './exec.js';
import { factsAction } from './facts.js';
import { fenceAction } from './fence.js';
import { pauseAction } from './pause.js';
import { reinitializeAction } from './reinitialize.js';
import { entriesProveAction, entriesRestoreAction, entriesUndoAction } from './restore-entries.js';
import { recreateInstanceAction, recreatePreflightAction } from './recreate-instance.js';
import { restoreMasterAction, restorePreflightAction } from './restore-master.js';
import { ActionRegistry } from '../playbook/registry.js';
import { peersOf, withRole } from './selectors.js';

export function defaultRegistry(): ActionRegistry {
  return new ActionRegistry(
    [
      auditAction,
      backupAction,
      convergeAction,
      entriesProveAction,
      entriesRestoreAction,
      entriesUndoAction,
      execAction,
      factsAction,
      fenceAction,
      pauseAction,
      recreateInstanceAction,
      recreatePreflightAction,
      reinitializeAction,
      releaseAction,
      restoreMasterAction,
      restorePreflightAction,
      unfenceAction,
    ],
    [peersOf, withRole],
  );
}

export { ActionRegistry } from '../playbook/registry.js';
export type * from '../playbook/action.js';
