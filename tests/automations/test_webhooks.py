"""Outbound webhooks through the Python API, against a real receiver on loopback: retries, dead letters."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.runtime.support import mock_agent

from axocoatl.config.loader import parse_config_text
from axocoatl.config.schema import AxocoatlConfig
from axocoatl.core.errors import NotFound
from axocoatl.runtime.runtime import Runtime

from .receiver import Receiver

SECRET = "s3cret"


def hooked(url: str, **webhook: Any) -> AxocoatlConfig:
    """Workflow wf (a then b), workflow bad (x fails), and the webhook ``out`` to ``url``."""
    entry = {"name": "out", "url": url, "secret": SECRET, "backoff_secs": 0.01, "timeout_secs": 2.0, **webhook}
    data = {
        "agents": [
            mock_agent("a", options={"reply": "done {input}"}),
            mock_agent("b", ["a"]),
            mock_agent("x", options={"fail": True}),
        ],
        "workflows": [{"id": "wf", "agents": ["a", "b"]}, {"id": "bad", "agents": ["x"]}],
        "webhooks": [entry],
    }
    return parse_config_text(yaml.safe_dump(data), file="test.yaml", env={}).config


async def settle(predicate: Any) -> None:
    async with asyncio.timeout(60):
        while not predicate():
            await asyncio.sleep(0.02)


def delivered_events(receiver: Receiver) -> list[str]:
    return [r.json["event_id"] for r in receiver.answered(200)]


async def test_every_event_is_delivered_once_signed_through_failures_a_stall_and_429(tmp_path: Path) -> None:
    script: list[Any] = [500, "stall", (429, {"retry-after": "0"}), 503, 200]
    with Receiver(script, stall_secs=4.0) as receiver:
        async with Runtime(hooked(receiver.url), data_dir=tmp_path) as rt:
            run = await rt.run_workflow("wf", "the task")
            events = [e for e in await rt.store.recent_events(run_id=run.run_id) if e.type != "AgentActivated"]
            async with asyncio.timeout(60):
                while {r.status for r in await rt.webhooks.deliveries()} != {"delivered"}:
                    await asyncio.sleep(0.02)
            rows = await rt.webhooks.deliveries()
        assert sorted(delivered_events(receiver)) == sorted(e.event_id for e in events)  # each once, none missing
        assert len(rows) == len(events)
        first = receiver.received[0]
        assert first.path == "/hook" and first.headers["content-type"] == "application/json"
        assert all(r.signed_by(SECRET) for r in receiver.received)
        assert not first.signed_by("another secret")
        for request in receiver.received:
            body = request.json
            assert request.headers["x-axocoatl-delivery"] == body["delivery_id"]
            assert request.headers["x-axocoatl-event"] == body["event_type"]
            assert request.headers["x-axocoatl-timestamp"].isdigit()
            assert body["run_id"] == run.run_id and body["workflow_id"] == "wf"
        retried = [r.json["delivery_id"] for r in receiver.received if r.answered != 200]
        assert retried and set(retried) <= {r.json["delivery_id"] for r in receiver.answered(200)}
        assert "AgentActivated" not in {r.json["event_type"] for r in receiver.received}  # telemetry


async def test_a_refused_delivery_is_a_dead_letter_at_once_and_redeliver_sends_it_again(tmp_path: Path) -> None:
    with Receiver([400, 200]) as receiver:
        config = hooked(receiver.url, events=["run.completed"])
        async with Runtime(config, data_dir=tmp_path) as rt:
            await rt.run_workflow("wf", "the task")
            await settle(lambda: len(receiver.received) >= 1)

            async def failed() -> list[Any]:
                return await rt.webhooks.deliveries(failed=True)

            while not await failed():
                await asyncio.sleep(0.02)
            [dead] = await failed()
            assert dead.attempts == 1 and dead.last_status == 400
            assert dead.last_error == "HTTP 400 (not retried: the receiver refused the request)"
            assert dead.event_type == "WorkflowCompleted"
            again = await rt.webhooks.redeliver(dead.delivery_id[:10])
            assert again.status == "pending" and again.attempts == 0
            await settle(lambda: len(receiver.answered(200)) == 1)
            with pytest.raises(NotFound, match="no webhook delivery 'dlv-nope'"):
                await rt.webhooks.redeliver("dlv-nope")
        assert [r.json["delivery_id"] for r in receiver.received] == [dead.delivery_id] * 2
        assert receiver.received[1].body == receiver.received[0].body


async def test_retries_run_out_into_the_dead_letter_list(tmp_path: Path) -> None:
    with Receiver([500]) as receiver:
        config = hooked(receiver.url, events=["run.failed"], max_attempts=3)
        async with Runtime(config, data_dir=tmp_path) as rt:
            run = await rt.run_workflow("bad", "boom")
            assert run.status == "failed"
            while not await rt.webhooks.deliveries(failed=True):
                await asyncio.sleep(0.02)
            [dead] = await rt.webhooks.deliveries(failed=True)
        assert dead.attempts == 3 and dead.last_error == "gave up after 3 attempts: HTTP 500"
        assert len(receiver.received) == 3
        assert {r.json["event_type"] for r in receiver.received} == {"WorkflowFailed"}


async def test_only_the_configured_url_is_called_and_a_removed_webhook_sends_nothing(tmp_path: Path) -> None:
    with Receiver([200]) as old, Receiver([200]) as new:
        config = hooked(old.url, events=["run.completed"])
        async with Runtime(config, data_dir=tmp_path) as rt:
            rt.config = hooked(new.url, events=["run.completed"])  # the URL changed (a config reload)
            await rt.run_workflow("wf", "one")
            await settle(lambda: len(new.received) == 1)
            without = hooked(new.url).model_copy(update={"webhooks": []})
            rt.config = without
            await rt.run_workflow("wf", "two")  # logged while no webhook is configured: not routed
            rt.config = hooked(new.url, events=["run.completed"], enabled=False)
            await rt.run_workflow("wf", "three")  # routed to nobody: the webhook is disabled
            [sent] = await rt.webhooks.deliveries()
            with pytest.raises(NotFound):
                await rt.webhooks.redeliver("dlv-none")
            rt.config = without
            with pytest.raises(Exception, match="which is not configured"):
                await rt.webhooks.redeliver(sent.delivery_id)
        assert old.received == [] and len(new.received) == 1


async def test_retry_after_in_seconds_or_as_a_date_sets_the_next_attempt(tmp_path: Path) -> None:
    from email.utils import formatdate

    soon = formatdate(time.time() + 600, usegmt=True)
    with Receiver([(503, {"retry-after": "120"}), (429, {"retry-after": soon}), 200]) as receiver:
        async with Runtime(hooked(receiver.url, events=["run.started", "run.completed"]), data_dir=tmp_path) as rt:
            await rt.run_workflow("wf", "one")
            while [d.attempts for d in await rt.webhooks.deliveries()] != [1, 1]:
                await asyncio.sleep(0.02)
            rows = {d.last_status: d for d in await rt.webhooks.deliveries()}
    asked_seconds, asked_date = rows[503], rows[429]
    assert asked_seconds.status == "pending" and asked_seconds.next_attempt_at - asked_seconds.created_at >= 119
    assert asked_date.status == "pending" and asked_date.next_attempt_at - asked_date.created_at >= 590
    assert len(receiver.received) == 2  # each waits as asked: neither was attempted again
