"""Undo/redo, snapshots and If-Match of the Workflow aggregate, against a simple model."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from eventsourcing.application import Application
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from contracts.definitions import WorkflowDefinition
from contracts.errors import ErrorType, FlowledgerError
from services.command.domain.workflow import Workflow

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def definition(tag: int) -> WorkflowDefinition:
    return WorkflowDefinition.model_validate(
        {"blocks": [{"id": "only", "type": "set", "config": {"values": {"tag": tag}}}]}
    )


def tag_of(workflow: Workflow) -> Any:
    return workflow.current_definition["blocks"][0]["config"]["values"]["tag"]


class UndoRedoModel(RuleBasedStateMachine):
    """The model: a list of definitions the user made, and a cursor into it."""

    def __init__(self) -> None:
        super().__init__()
        self.workflow = Workflow.register("t", "wf", definition(0), NOW)
        self.history = [0]  # Tags of the definitions along the undo line.
        self.cursor = 0  # Which of them is current.

    @rule(tag=st.integers(min_value=1, max_value=5))
    def change(self, tag: int) -> None:
        changed = self.workflow.save_definition(definition(tag), NOW)
        if tag == self.history[self.cursor]:
            assert not changed  # An unchanged save makes no version.
            return
        assert changed
        # A new change clears the redo stack.
        self.history = [*self.history[: self.cursor + 1], tag]
        self.cursor += 1

    @precondition(lambda self: self.cursor > 0)
    @rule()
    def undo(self) -> None:
        self.workflow.undo(NOW)
        self.cursor -= 1

    @precondition(lambda self: self.cursor == 0)
    @rule()
    def undo_with_nothing_to_undo(self) -> None:
        with pytest.raises(FlowledgerError) as raised:
            self.workflow.undo(NOW)
        assert raised.value.type is ErrorType.NOTHING_TO_UNDO

    @precondition(lambda self: self.cursor < len(self.history) - 1)
    @rule()
    def redo(self) -> None:
        self.workflow.redo(NOW)
        self.cursor += 1

    @precondition(lambda self: self.cursor == len(self.history) - 1)
    @rule()
    def redo_with_nothing_to_redo(self) -> None:
        with pytest.raises(FlowledgerError) as raised:
            self.workflow.redo(NOW)
        assert raised.value.type is ErrorType.NOTHING_TO_REDO

    @invariant()
    def current_definition_matches_the_model(self) -> None:
        assert tag_of(self.workflow) == self.history[self.cursor]

    @invariant()
    def it_survives_a_restart(self) -> None:
        """Event-sourced, not in memory: a reloaded aggregate has the same stacks."""
        app: Application[Any] = Application()
        events = list(self.workflow.collect_events())
        app.events.put(events)
        reloaded = app.repository.get(self.workflow.id)
        assert isinstance(reloaded, Workflow)
        assert reloaded.versions == self.workflow.versions
        assert reloaded.undo_stack == self.workflow.undo_stack
        assert reloaded.redo_stack == self.workflow.redo_stack
        # Keep the events: put them back as pending so the next check sees them all.
        self.workflow._pending_events[:0] = events


UndoRedoModel.TestCase.settings = settings(max_examples=60, stateful_step_count=25, deadline=None)
TestUndoRedo = UndoRedoModel.TestCase


def test_versions_are_immutable_and_only_changes_make_them() -> None:
    workflow = Workflow.register("t", "wf", definition(1), NOW)
    assert not workflow.save_definition(definition(1), NOW)
    assert workflow.save_definition(definition(2), NOW)
    assert workflow.current_version == 2
    assert workflow.versions[0]["blocks"][0]["config"]["values"]["tag"] == 1


def test_a_stale_if_match_is_a_version_conflict() -> None:
    workflow = Workflow.register("t", "wf", definition(1), NOW)
    workflow.save_definition(definition(2), NOW, expected_version=1)
    with pytest.raises(FlowledgerError) as raised:
        workflow.save_definition(definition(3), NOW, expected_version=1)
    assert raised.value.type is ErrorType.VERSION_CONFLICT
    assert raised.value.details == {"current_version": 2, "expected_version": 1}


def test_snapshots_restore_as_a_new_undoable_version() -> None:
    workflow = Workflow.register("t", "wf", definition(1), NOW)
    workflow.create_snapshot("s1", "first", ["prod"], None, NOW)
    workflow.save_definition(definition(2), NOW)
    workflow.update_snapshot("s1", None, ["prod", "golden"], True, NOW)
    assert workflow.snapshots["s1"]["favourite"] is True
    assert workflow.snapshots["s1"]["tags"] == ["prod", "golden"]
    workflow.restore_snapshot("s1", NOW)
    assert workflow.current_version == 3 and tag_of(workflow) == 1
    workflow.undo(NOW)
    assert tag_of(workflow) == 2
    workflow.delete_snapshot("s1", NOW)
    with pytest.raises(FlowledgerError) as raised:
        workflow.restore_snapshot("s1", NOW)
    assert raised.value.type is ErrorType.SNAPSHOT_NOT_FOUND


def test_a_deleted_workflow_refuses_changes_until_saved_again() -> None:
    workflow = Workflow.register("t", "wf", definition(1), NOW)
    workflow.delete(NOW)
    for change in (lambda: workflow.undo(NOW), lambda: workflow.delete(NOW)):
        with pytest.raises(FlowledgerError) as raised:
            change()
        assert raised.value.type is ErrorType.WORKFLOW_NOT_FOUND
    assert workflow.save_definition(definition(1), NOW)
    assert not workflow.deleted and workflow.current_version == 2
