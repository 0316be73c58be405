"""The run calls of `FlowledgerClient`: start, read, list, steer, and what a run did."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from typing import Any

from contracts.api import (
    CheckpointPage,
    RunAccepted,
    RunHistoryPage,
    RunLogPage,
    RunPage,
    RunSummary,
    RunView,
)
from services.client.transport import Transport, follow_pages

CONTROLS = ("cancel", "pause", "resume", "terminate", "retry", "restart")


class RunCalls:
    """`/v1/workflows/{name}/runs` and `/v1/runs…`, except following a run (the client's)."""

    _t: Transport

    def start_run(
        self,
        workflow: str,
        input: Mapping[str, Any] | None = None,
        *,
        id: str | None = None,
        metadata: Mapping[str, str] | None = None,
        blocks: Sequence[str] | None = None,
        idempotency_key: str | None = None,
        timeout_seconds: float | None = None,
        timeout_policy: str | None = None,
    ) -> RunAccepted:
        """Start a run; `blocks`: only these and what they need. A repeat with the same
        `idempotency_key` gets the first answer instead of a second run."""
        body = _start_body(input, id, metadata, blocks, timeout_seconds, timeout_policy)
        answer = self._t.request(
            "POST", f"/v1/workflows/{workflow}/runs", json=body, idempotency_key=idempotency_key
        )
        return RunAccepted.model_validate(answer)

    def start_runs(
        self,
        workflow: str,
        runs: Sequence[Mapping[str, Any]],
        *,
        idempotency_key: str | None = None,
    ) -> list[RunAccepted]:
        """Up to 1000 starts (each a start body: input, id, metadata, …), all or none."""
        answer = self._t.request(
            "POST",
            f"/v1/workflows/{workflow}/runs:batch",
            json={"runs": [dict(run) for run in runs]},
            idempotency_key=idempotency_key,
        )
        return [RunAccepted.model_validate(item) for item in answer["items"]]

    def get_run(self, run_id: str) -> RunView:
        return RunView.model_validate(self._t.request("GET", f"/v1/runs/{run_id}"))

    def list_runs(
        self,
        workflow: str | None = None,
        status: str | Collection[str] | None = None,
        *,
        version: int | None = None,
        created_after: str | None = None,
        created_before: str | None = None,
        metadata: Mapping[str, str] | None = None,
        sort: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> RunPage:
        """One page of runs, newest first unless `sort` says otherwise."""
        params: dict[str, Any] = {
            "workflow": workflow,
            "status": [status] if isinstance(status, str) else list(status or []) or None,
            "version": version,
            "created_after": created_after,
            "created_before": created_before,
            "sort": sort,
            "limit": limit,
            "cursor": cursor,
        }
        params.update({f"metadata.{k}": v for k, v in (metadata or {}).items()})
        return RunPage.model_validate(self._t.request("GET", "/v1/runs", params=params))

    def iter_runs(
        self,
        workflow: str | None = None,
        status: str | Collection[str] | None = None,
        *,
        page_size: int = 100,
        **filters: Any,
    ) -> Iterator[RunSummary]:
        """Every run matching the filters of `list_runs`, following `next_cursor`."""
        return follow_pages(
            lambda cursor: self.list_runs(
                workflow, status, limit=page_size, cursor=cursor, **filters
            )
        )

    def history(
        self, run_id: str, *, limit: int | None = None, cursor: str | None = None
    ) -> RunHistoryPage:
        """The run's events, oldest first."""
        params = {"limit": limit, "cursor": cursor}
        body = self._t.request("GET", f"/v1/runs/{run_id}/history", params=params)
        return RunHistoryPage.model_validate(body)

    def logs(self, run_id: str) -> RunLogPage:
        """One entry per block attempt: timings, worker, the lines it logged, its error."""
        return RunLogPage.model_validate(self._t.request("GET", f"/v1/runs/{run_id}/logs"))

    def checkpoints(self, run_id: str) -> CheckpointPage:
        body = self._t.request("GET", f"/v1/runs/{run_id}/checkpoints")
        return CheckpointPage.model_validate(body)

    # ----- steering runs -------------------------------------------------------------------

    def control(
        self,
        run_id: str,
        action: str,
        *,
        reason: str | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """`cancel`, `pause`, `resume`, `terminate`, `retry` or `restart`: `{id, status}`."""
        if action not in CONTROLS:
            raise ValueError(f"unknown run action {action!r}; one of {', '.join(CONTROLS)}")
        body = {"reason": reason} if reason else None
        return self._t.request(  # type: ignore[no-any-return]
            "POST", f"/v1/runs/{run_id}/{action}", json=body, idempotency_key=idempotency_key
        )

    def cancel(self, run_id: str, reason: str | None = None) -> dict[str, Any]:
        return self.control(run_id, "cancel", reason=reason)

    def pause(self, run_id: str, reason: str | None = None) -> dict[str, Any]:
        return self.control(run_id, "pause", reason=reason)

    def resume(self, run_id: str, reason: str | None = None) -> dict[str, Any]:
        return self.control(run_id, "resume", reason=reason)

    def terminate(self, run_id: str, reason: str | None = None) -> dict[str, Any]:
        return self.control(run_id, "terminate", reason=reason)

    def retry(self, run_id: str, reason: str | None = None) -> dict[str, Any]:
        """Resume a failed run from its last checkpoint."""
        return self.control(run_id, "retry", reason=reason)

    def restart(self, run_id: str, reason: str | None = None) -> dict[str, Any]:
        """Run an ended run again from scratch, on the version it pinned."""
        return self.control(run_id, "restart", reason=reason)

    def send_event(
        self,
        run_id: str,
        event_type: str,
        payload: Any = None,
        *,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """Deliver an event to the run's block waiting for it (kept if none waits yet)."""
        return self._t.request(  # type: ignore[no-any-return]
            "POST",
            f"/v1/runs/{run_id}/events/{event_type}",
            json=payload,
            idempotency_key=idempotency_key,
        )


def _start_body(
    input: Mapping[str, Any] | None,
    id: str | None,
    metadata: Mapping[str, str] | None,
    blocks: Sequence[str] | None,
    timeout_seconds: float | None,
    timeout_policy: str | None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "input": dict(input or {}),
        "id": id,
        "metadata": dict(metadata) if metadata else None,
        "blocks": list(blocks) if blocks is not None else None,
        "timeout_seconds": timeout_seconds,
        "timeout_policy": timeout_policy,
    }
    return {k: v for k, v in body.items() if v is not None}
