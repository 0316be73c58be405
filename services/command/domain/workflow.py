"""The Workflow aggregate: a named definition and its immutable versions."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from eventsourcing.domain import Aggregate, event

from contracts.definitions import WorkflowDefinition
from contracts.errors import ErrorType, FlowledgerError

_WORKFLOW_NAMESPACE = uuid.UUID("5d0f7a0e-2f43-4b7e-8d8b-6a4a8f5c3e21")


def workflow_aggregate_id(tenant: str, name: str) -> uuid.UUID:
    return uuid.uuid5(_WORKFLOW_NAMESPACE, f"{tenant}/{name}")


def _canonical(definition: WorkflowDefinition) -> dict[str, Any]:
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

    @classmethod
    def register(
        cls, tenant: str, name: str, definition: WorkflowDefinition, now: datetime
    ) -> Workflow:
        return cls(tenant=tenant, name=name, version=1, definition=_canonical(definition), at=now)

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

    def save_definition(self, definition: WorkflowDefinition, now: datetime) -> bool:
        """Save a new version if the definition changed (or the workflow was deleted)."""
        canonical = _canonical(definition)
        if not self.deleted and canonical == self.current_definition:
            return False
        self._save_version(version=self.current_version + 1, definition=canonical, at=now)
        return True

    def delete(self, now: datetime) -> None:
        self.check_exists()
        self._delete(at=now)

    @event("WorkflowVersionSaved")
    def _save_version(self, version: int, definition: dict[str, Any], at: datetime) -> None:
        self.versions.append(definition)
        self.deleted = False

    @event("WorkflowDeleted")
    def _delete(self, at: datetime) -> None:
        self.deleted = True
