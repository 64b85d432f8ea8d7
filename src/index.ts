// The library API: the same functions the CLI calls. Operations and their types first
// (docs/library.md), then the layers under them.
export { hostOutcomes, operationState, type HostOutcome, type OperationState } from './operations/outcome.js';
export {
  restoreDeployment,
  resumeRestore,
  initMode,
  snapshotType,
  type InitMode,
  type RestoreOptions,
  type ResumeRestoreOptions,
  type RestoreResult,
} from './operations/restore-deployment.js';
export { rejoin, type RejoinOptions, type RejoinResult } from './operations/rejoin.js';
export { drill, type DrillOptions, type DrillPhase, type DrillReport } from './operations/drill.js';
export { lastPassed, readDrills, type DrillRecord } from './restore/drill-records.js';
export { demo, type DemoOptions, type DemoReport, type DemoStage } from './operations/demo.js';
export type { PhasedRunResult, RunSettings } from './operations/phased-run.js';
export { phaseReport, phaseRows, type PhaseReport, type TimedTask } from './operations/phase-report.js';
export {
  backupFleet,
  type BackupFleetOptions,
  type BackupFleetResult,
  type HostBackup,
} from './operations/backup-fleet.js';
export {
  verifySnapshots,
  type VerifyOptions,
  type VerifyResult,
  type VerifyTargets,
  type SnapshotVerification,
} from './operations/verify.js';
export { prune, type PruneOptions, type PruneResult, type DeploymentPrune } from './operations/prune.js';
export {
  importIpaBackup,
  type ImportIpaBackupOptions,
  type ImportIpaBackupResult,
} from './operations/import-ipa-backup.js';
export {
  compareContent,
  type CompareOptions,
  type CompareReport,
  type SuffixComparison,
} from './operations/compare.js';
export type { Divergence, Lagging } from './content/live-compare.js';
export {
  audit,
  drawTopology,
  severityOf,
  type AuditOptions,
  type AuditResult,
  type AuditSeverity,
} from './operations/audit.js';
export {
  planPlaybook,
  runPlaybook,
  resumePlaybook,
  type PlaybookOptions,
  type RunPlaybookOptions,
  type ResumePlaybookOptions,
  type PlaybookRunResult,
} from './operations/run-playbook.js';
export { pingHosts, type PingResult } from './operations/ping.js';
export { gatherHostFacts, type FactsResult } from './operations/facts.js';
export { DemoPaths, defaultDemoDir, DEMO_NET, type HostCheck } from './lab/demo.js';
export * from './errors.js';
export { createRunContext, SecretStore, type RunContext, type ContextOptions } from './context.js';
export * from './inventory/index.js';
export { Transport } from './transport/transport.js';
export {
  SshSession,
  CHANNELS_PER_HOST,
  type ExecOptions,
  type ExecOutput,
  type CommandStream,
  type SshTarget,
} from './transport/session.js';
export { LdapSession, DirEntry, type Modification, type SearchRequest } from './transport/ldap.js';
export { CommandFailedError, type CommandResult } from './transport/result.js';
export { shellQuote, shellCommand } from './transport/shell.js';
export { KnownHosts, fingerprint } from './transport/known-hosts.js';
export { Redactor } from './report/redact.js';
export * from './directory/agreements.js';
export * from './directory/replica.js';
export * from './directory/tasks.js';
export * from './directory/dn.js';
export {
  labUp,
  labDown,
  labStatus,
  labStartHost,
  labStopHost,
  labKillDs,
  type LabState,
  type HostStatus,
} from './lab/lab.js';
export { LabPaths } from './lab/paths.js';
export { labSpec, LAB_DEFAULTS, type LabOptions, type LabSpec } from './lab/spec.js';
export { stateDir, defaultLogFile } from './state-dir.js';
export { main } from './cli/main.js';
export {
  resolvePlaybookPath,
  FactsUnavailableError,
  type PlanOptions,
  type RunOptions,
  type ResumeOptions,
  type RunOutcome,
} from './playbook/run.js';
export { buildPlan, playbookNeedsFacts, type PlanRequest } from './playbook/planner.js';
export { loadPlaybook, parsePlaybook } from './playbook/load.js';
export { resolveParams, parseDuration } from './playbook/params.js';
export { RunJournal, listRuns, doneTasks, type JournalEntry, type RunSummary } from './playbook/journal.js';
export { acquireLock, LockHeldError } from './playbook/lock.js';
export type * from './json.js';
export * from './located/located-error.js';
export type * from './playbook/model.js';
export { execute, type ExecuteOptions, type ExecuteResult, type TaskRecord } from './playbook/executor.js';
export { defaultRegistry } from './actions/index.js';
export { ActionRegistry } from './playbook/registry.js';
export type {
  ActionDefinition,
  SelectorDefinition,
  TaskContext,
  TaskOutcome,
  TaskDraft,
  PlanInput,
} from './playbook/action.js';
export { EventStream, type FleetEvent } from './report/events.js';
export { gatherFacts, gatherAllFacts, type FactsOptions, type HostFacts, type SuffixFacts } from './topology/facts.js';
export { readRuv, parseRuv, type Ruv, type RuvElement } from './directory/ruv.js';
export { parseCsn, compareCsn, csnLagSeconds } from './directory/csn.js';
export { setAgreementsEnabled, type AgreementToggle } from './directory/fence.js';
export { stripRuvTombstone } from './directory/ldif.js';
export { unpackSnapshot, type SnapshotFile } from './backup/unpack.js';
export { initTree, describeTree, type InitTree, type TreeHop } from './topology/trees.js';
export { restoreLayout, type RestoreLayout, type SuffixLayout } from './restore/layout.js';
export { compatibilityProblems } from './restore/compatibility.js';
export { restoreMaster } from './restore/master.js';
export { proveConvergence } from './restore/converge.js';
export { unfenceSuffix } from './restore/unfence.js';
export { readQuarantine, quarantineHosts, releaseHost, type QuarantineRecord } from './restore/quarantine.js';
