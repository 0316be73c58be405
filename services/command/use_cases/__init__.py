"""One function per command: load aggregates through the unit of work, decide, return."""

from __future__ import annotations

from contracts import commands as c
from services.command.unit_of_work import Handler
from services.command.use_cases import batch, jobs, runs, schedules, workflows

HANDLERS: dict[type[c.Command], Handler] = {
    c.PutWorkflow: workflows.put_workflow,
    c.DeleteWorkflow: workflows.delete_workflow,
    c.UndoWorkflow: workflows.undo_workflow,
    c.RedoWorkflow: workflows.redo_workflow,
    c.DuplicateWorkflow: workflows.duplicate_workflow,
    c.CreateSnapshot: workflows.create_snapshot,
    c.UpdateSnapshot: workflows.update_snapshot,
    c.DeleteSnapshot: workflows.delete_snapshot,
    c.RestoreSnapshot: workflows.restore_snapshot,
    c.ImportWorkflows: workflows.import_workflows,
    c.StartRun: runs.start_run,
    c.StartRuns: runs.start_runs,
    c.ExecuteBatch: batch.execute_batch,
    c.CancelRun: runs.control("cancel"),
    c.TerminateRun: runs.control("terminate"),
    c.PauseRun: runs.control("pause"),
    c.ResumeRun: runs.control("resume"),
    c.RetryRun: runs.control("retry"),
    c.RestartRun: runs.control("restart"),
    c.SendEvent: runs.send_event,
    c.RollbackRun: runs.rollback_run,
    c.ReplayRun: runs.replay_run,
    c.CreateSchedule: schedules.create_schedule,
    c.UpdateSchedule: schedules.update_schedule,
    c.DeleteSchedule: schedules.switch(on=False, delete=True),
    c.EnableSchedule: schedules.switch(on=True),
    c.DisableSchedule: schedules.switch(on=False),
    c.TriggerSchedule: schedules.trigger_schedule,
    c.FireSchedule: schedules.fire_schedule,
    c.TerminateRuns: jobs.terminate_runs,
    c.RunJobChunk: jobs.run_chunk,
    c.StartBlock: runs.start_block,
    c.CompleteBlock: runs.complete_block,
    c.FailBlock: runs.fail_block,
    c.StartBlocks: runs.start_blocks,
    c.ReportBlocks: runs.report_blocks,
    c.FireTimer: runs.fire_timer,
}
