"""The workflow calls of `FlowledgerClient`: definitions and their history."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from contracts.api import (
    ValidationReport,
    VersionPage,
    VersionView,
    WorkflowPage,
    WorkflowSaved,
    WorkflowView,
)
from services.client.transport import Transport, follow_pages

YAML_CONTENT_TYPE = "application/yaml"


class WorkflowCalls:
    """`/v1/workflows…`: put, get, list, delete, validate, versions, diff, undo and redo."""

    _t: Transport

    def put_workflow(
        self,
        name: str,
        definition: Mapping[str, Any] | str,
        *,
        expected_version: int | None = None,
        idempotency_key: str | None = None,
    ) -> WorkflowSaved:
        """Create, or save a new version if changed; a `str` definition is sent as YAML.
        `expected_version` (If-Match) refuses the save if the workflow has moved on."""
        headers = {} if expected_version is None else {"If-Match": str(expected_version)}
        if isinstance(definition, str):
            headers["content-type"] = YAML_CONTENT_TYPE
            body = self._t.request(
                "PUT",
                f"/v1/workflows/{name}",
                content=definition.encode(),
                headers=headers,
                idempotency_key=idempotency_key,
            )
        else:
            body = self._t.request(
                "PUT",
                f"/v1/workflows/{name}",
                json=dict(definition),
                headers=headers,
                idempotency_key=idempotency_key,
            )
        return WorkflowSaved.model_validate(body)

    def get_workflow(self, name: str) -> WorkflowView:
        return WorkflowView.model_validate(self._t.request("GET", f"/v1/workflows/{name}"))

    def list_workflows(
        self, name: str | None = None, *, limit: int | None = None, cursor: str | None = None
    ) -> WorkflowPage:
        """One page; `name` filters by substring."""
        params = {"name": name, "limit": limit, "cursor": cursor}
        return WorkflowPage.model_validate(self._t.request("GET", "/v1/workflows", params=params))

    def iter_workflows(
        self, name: str | None = None, *, page_size: int = 100
    ) -> Iterator[WorkflowView]:
        """Every workflow, fetching page after page."""
        return follow_pages(
            lambda cursor: self.list_workflows(name, limit=page_size, cursor=cursor)
        )

    def delete_workflow(self, name: str, *, idempotency_key: str | None = None) -> dict[str, Any]:
        return self._t.request("DELETE", f"/v1/workflows/{name}", idempotency_key=idempotency_key)  # type: ignore[no-any-return]

    def validate(self, definition: Mapping[str, Any]) -> ValidationReport:
        """Check a definition without saving it: every problem, each with its path."""
        body = self._t.request("POST", "/v1/workflows:validate", json=dict(definition))
        return ValidationReport.model_validate(body)

    def versions(self, name: str) -> VersionPage:
        body = self._t.request("GET", f"/v1/workflows/{name}/versions")
        return VersionPage.model_validate(body)

    def version(self, name: str, version: int) -> VersionView:
        body = self._t.request("GET", f"/v1/workflows/{name}/versions/{version}")
        return VersionView.model_validate(body)

    def diff(self, name: str, from_version: int, to_version: int) -> dict[str, Any]:
        """Blocks added, removed and changed between two versions."""
        params = {"from": from_version, "to": to_version}
        return self._t.request("GET", f"/v1/workflows/{name}/diff", params=params)  # type: ignore[no-any-return]

    def undo(self, name: str) -> dict[str, Any]:
        """Return to the previous definition, as a new version."""
        return self._t.request("POST", f"/v1/workflows/{name}/undo")  # type: ignore[no-any-return]

    def redo(self, name: str) -> dict[str, Any]:
        return self._t.request("POST", f"/v1/workflows/{name}/redo")  # type: ignore[no-any-return]
