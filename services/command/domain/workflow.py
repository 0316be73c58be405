"""The Workflow aggregate: a named definition, its immutable versions, snapshots, undo/redo.

Every change of the definition is a new version. Undo and redo are compensating changes:
they save the definition of an earlier version as a new version, never rewrite history.
"""

from __future__ import annotations

import functools
import uuid
from datetime import datetime
from typing import Any

from eventsourcing.domain import Aggregate, event

from contracts.definitions import WorkflowDefinition
from contracts.errors import ErrorType, FlowledgerError

_WORKFLOW_NAMESPACE = uuid.UUID("5d0f7a0e-2f43-4b7e-8d8b-6a4a8f5c3e21")

# Why a version was saved.
PUT = "put"
UNDO = "undo"
REDO = "redo"
RESTORE = "restore"


@functools.lru_cache(maxsize=4096)
def workflow_aggregate_id(tenant: str, name: str) -> uuid.UUID:
    """Cached: every start of a run looks its workflow up, and uuid5 is slow Python."""
    return uuid.uuid5(_WORKFLOW_NAMESPACE, f"{tenant}/{name}")


def canonical(definition: WorkflowDefinition) -> dict[str, Any]:
    return definition.model_dump(mode="json", exclude_none=True)


class Workflow(Aggregate):
    """Every save that changes the definition makes a new version; runs pin theirs."""

    @staticmethod
    def create_id(tenant: str, name: str) -> uuid.UUID:
        return workflow_aggregate_id(tenant, name)

    @event("WorkflowCreated")
    def __init__(
        self, tenant: str, name: str, version: int, definition: dict[str, Any], at: datetime
    ) -> None:
        self.tenant = tenant
        self.name = name
        self.versions: list[dict[str, Any]] = [definition]
        self.deleted = False
        self.created_at = at
        self.undo_stack: list[int] = []
        self.redo_stack: list[int] = []
        self.snapshots: dict[str, dict[str, Any]] = {}

    @classmethod
    def register(
        cls, tenant: str, name: str, definition: WorkflowDefinition, now: datetime
    ) -> Workflow:
        return cls(tenant=tenant, name=name, version=1, definition=canonical(definition), at=now)

    # ----- reading state -------------------------------------------------------------

    @property
    def current_version(self) -> int:
        return len(self.versions)

    @property
    def current_definition(self) -> dict[str, Any]:
        return self.versions[-1]

    def check_exists(self) -> None:
        if self.deleted:
            raise FlowledgerError(
                ErrorType.WORKFLOW_NOT_FOUND,
                f"workflow {self.name!r} was deleted",
                workflow=self.name,
            )

    def check_version(self, expected: int | None) -> None:
        """`If-Match`: refuse a change made against a version that is no longer current."""
        if expected is not None and expected != self.current_version:
            raise FlowledgerError(
                ErrorType.VERSION_CONFLICT,
                f"workflow {self.name!r} is at version {self.current_version}, not {expected}",
                current_version=self.current_version,
                expected_version=expected,
            )

    def _snapshot(self, snapshot_id: str) -> dict[str, Any]:
        self.check_exists()
        found = self.snapshots.get(snapshot_id)
        if found is None:
            raise FlowledgerError(
                ErrorType.SNAPSHOT_NOT_FOUND,
                f"workflow {self.name!r} has no snapshot {snapshot_id!r}",
                snapshot_id=snapshot_id,
            )
        return found

    # ----- commands --------------------------------------------------------------------

    def save_definition(
        self, definition: WorkflowDefinition, now: datetime, expected_version: int | None = None
    ) -> bool:
        """Save a new version if the definition changed (or the workflow was deleted)."""
        self.check_version(expected_version)
        new = canonical(definition)
        if not self.deleted and new == self.current_definition:
            return False
        self._save_version(
            version=self.current_version + 1, definition=new, cause=PUT, based_on=None, at=now
        )
        return True

    def undo(self, now: datetime) -> None:
        self.check_exists()
        if not self.undo_stack:
            raise FlowledgerError(
                ErrorType.NOTHING_TO_UNDO, f"workflow {self.name!r} has no change to undo"
            )
        target = self.undo_stack[-1]
        self._save_version(
            version=self.current_version + 1,
            definition=self.versions[target - 1],
            cause=UNDO,
            based_on=target,
            at=now,
        )

    def redo(self, now: datetime) -> None:
        self.check_exists()
        if not self.redo_stack:
            raise FlowledgerError(
                ErrorType.NOTHING_TO_REDO, f"workflow {self.name!r} has no undone change to redo"
            )
        target = self.redo_stack[-1]
        self._save_version(
            version=self.current_version + 1,
            definition=self.versions[target - 1],
            cause=REDO,
            based_on=target,
            at=now,
        )

    def delete(self, now: datetime) -> None:
        self.check_exists()
        self._delete(at=now)

    def create_snapshot(
        self, snapshot_id: str, name: str, tags: list[str], version: int | None, now: datetime
    ) -> None:
        self.check_exists()
        version = version or self.current_version
        if not 1 <= version <= self.current_version:
            raise FlowledgerError(
                ErrorType.VERSION_NOT_FOUND,
                f"workflow {self.name!r} has no version {version}",
                version=version,
            )
        if snapshot_id in self.snapshots:
            raise FlowledgerError(
                ErrorType.SNAPSHOT_ALREADY_EXISTS, f"snapshot {snapshot_id!r} exists"
            )
        self._create_snapshot(
            snapshot_id=snapshot_id,
            name=name,
            tags=tags,
            version=version,
            definition=self.versions[version - 1],
            at=now,
        )

    def update_snapshot(
        self,
        snapshot_id: str,
        name: str | None,
        tags: list[str] | None,
        favourite: bool | None,
        now: datetime,
    ) -> None:
        current = self._snapshot(snapshot_id)
        self._update_snapshot(
            snapshot_id=snapshot_id,
            name=current["name"] if name is None else name,
            tags=current["tags"] if tags is None else tags,
            favourite=current["favourite"] if favourite is None else favourite,
            at=now,
        )

    def delete_snapshot(self, snapshot_id: str, now: datetime) -> None:
        self._snapshot(snapshot_id)
        self._delete_snapshot(snapshot_id=snapshot_id, at=now)

    def restore_snapshot(self, snapshot_id: str, now: datetime) -> None:
        """A new version whose definition equals the snapshot's (a change: undoable)."""
        snapshot = self._snapshot(snapshot_id)
        self._save_version(
            version=self.current_version + 1,
            definition=snapshot["definition"],
            cause=RESTORE,
            based_on=snapshot["version"],
            at=now,
        )

    # ----- events ----------------------------------------------------------------------

    @event("WorkflowVersionSaved")
    def _save_version(
        self,
        version: int,
        definition: dict[str, Any],
        cause: str,
        based_on: int | None,
        at: datetime,
    ) -> None:
        previous = self.current_version
        if self.deleted:
            # A save after a delete starts a fresh undo history.
            self.undo_stack, self.redo_stack = [], []
        elif cause == UNDO:
            self.undo_stack.pop()
            self.redo_stack.append(previous)
        elif cause == REDO:
            self.redo_stack.pop()
            self.undo_stack.append(previous)
        else:  # A new change: what was undone can no longer be redone.
            self.undo_stack.append(previous)
            self.redo_stack.clear()
        self.versions.append(definition)
        self.deleted = False

    @event("WorkflowDeleted")
    def _delete(self, at: datetime) -> None:
        self.deleted = True

    @event("SnapshotCreated")
    def _create_snapshot(
        self,
        snapshot_id: str,
        name: str,
        tags: list[str],
        version: int,
        definition: dict[str, Any],
        at: datetime,
    ) -> None:
        self.snapshots[snapshot_id] = {
            "name": name,
            "tags": list(tags),
            "favourite": False,
            "version": version,
            "definition": definition,
        }

    @event("SnapshotUpdated")
    def _update_snapshot(
        self, snapshot_id: str, name: str, tags: list[str], favourite: bool, at: datetime
    ) -> None:
        self.snapshots[snapshot_id].update(name=name, tags=list(tags), favourite=favourite)

    @event("SnapshotDeleted")
    def _delete_snapshot(self, snapshot_id: str, at: datetime) -> None:
        del self.snapshots[snapshot_id]
