"""Push notifications of A2A tasks: configs kept in the project database, deliveries retried, and only
ever sent to the hosts listed in ``a2a.push_hosts`` (docs/a2a.md).

Deliveries of one task go out in order, one at a time, in the background: a slow or dead
receiver never holds up the task. Each is retried on a network error, a 5xx or a 429
(0.5 s, 1 s, 2 s), never on another 4xx.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from urllib.parse import urlsplit

import httpx
from a2a.server.context import ServerCallContext
from a2a.server.owner_resolver import resolve_user_scope
from a2a.server.tasks.push_notification_config_store import (
    PushNotificationConfigStore,
    normalize_push_notification_config,
)
from a2a.server.tasks.push_notification_sender import PushNotificationEvent, PushNotificationSender
from a2a.types.a2a_pb2 import TaskPushNotificationConfig
from a2a.utils.proto_utils import to_stream_response
from google.protobuf.json_format import MessageToDict

from axocoatl.config.hosts import parse_host
from axocoatl.store import A2APushRecord, Store

log = logging.getLogger(__name__)

ATTEMPTS = 4
FIRST_DELAY = 0.5


def host_allowed(url: str, hosts: list[str]) -> bool:
    """Whether ``url`` is http(s) to one of ``hosts`` (an entry without a port allows any port)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    target = parse_host(parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]")
    if target is None:
        return False
    for entry in hosts:
        rule = parse_host(entry)
        if rule is not None and rule.host == target.host and rule.port in (None, port):
            return True
    return False


class DatabasePushConfigStore(PushNotificationConfigStore):
    """TaskPushNotificationConfigs in table a2a_push_configs, scoped to their owner."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def set_info(
        self, task_id: str, notification_config: TaskPushNotificationConfig, context: ServerCallContext
    ) -> TaskPushNotificationConfig:
        config = normalize_push_notification_config(task_id, notification_config)
        record = A2APushRecord(task_id, config.id, resolve_user_scope(context), config.SerializeToString())
        await self._store.save_a2a_push(record)
        return config

    async def get_info(self, task_id: str, context: ServerCallContext) -> list[TaskPushNotificationConfig]:
        owner = resolve_user_scope(context)
        return [_config(r) for r in await self._store.a2a_push_configs(task_id) if r.owner == owner]

    async def get_info_for_dispatch(self, task_id: str) -> list[TaskPushNotificationConfig]:
        return [_config(r) for r in await self._store.a2a_push_configs(task_id)]

    async def delete_info(self, task_id: str, context: ServerCallContext, config_id: str | None = None) -> None:
        await self._store.delete_a2a_push(task_id, resolve_user_scope(context), config_id)


def _config(record: A2APushRecord) -> TaskPushNotificationConfig:
    config = TaskPushNotificationConfig()
    config.ParseFromString(record.data)
    return config


class RetryingPushSender(PushNotificationSender):
    """POSTs each task event to the task's configured URLs, with retries, to allowed hosts only."""

    def __init__(self, configs: PushNotificationConfigStore, hosts: Callable[[], list[str]]) -> None:
        self._configs = configs
        self._hosts = hosts
        self._queues: dict[str, asyncio.Queue[PushNotificationEvent]] = {}
        self._workers: set[asyncio.Task[None]] = set()

    async def send_notification(self, task_id: str, event: PushNotificationEvent) -> None:
        queue = self._queues.get(task_id)
        if queue is None:
            queue = self._queues[task_id] = asyncio.Queue()
            worker = asyncio.create_task(self._drain(task_id, queue), name=f"a2a-push:{task_id}")
            self._workers.add(worker)
            worker.add_done_callback(self._workers.discard)
        queue.put_nowait(event)

    async def _drain(self, task_id: str, queue: asyncio.Queue[PushNotificationEvent]) -> None:
        async with httpx.AsyncClient(timeout=10.0) as http:
            while True:
                try:
                    event = await asyncio.wait_for(queue.get(), timeout=30.0)
                except TimeoutError:
                    if queue.empty():  # idle: the worker ends; a later event starts another
                        self._queues.pop(task_id, None)
                        return
                    continue
                try:
                    configs = await self._configs.get_info_for_dispatch(task_id)
                except Exception:
                    log.exception("a2a push: cannot read the push configs of task %s", task_id)
                    continue
                body = MessageToDict(to_stream_response(event))
                for config in configs:
                    await self._deliver(http, task_id, config, body)

    async def _deliver(
        self, http: httpx.AsyncClient, task_id: str, config: TaskPushNotificationConfig, body: object
    ) -> None:
        if not host_allowed(config.url, self._hosts()):
            log.warning("a2a push: not sending task %s to %s: its host is not in a2a.push_hosts", task_id, config.url)
            return
        headers = {"content-type": "application/json"}
        if config.token:
            headers["X-A2A-Notification-Token"] = config.token
        if config.HasField("authentication") and config.authentication.scheme and config.authentication.credentials:
            headers["Authorization"] = f"{config.authentication.scheme} {config.authentication.credentials}"
        delay = FIRST_DELAY
        for attempt in range(1, ATTEMPTS + 1):
            try:
                response = await http.post(config.url, json=body, headers=headers)
                if response.status_code < 400:
                    return
                retry = response.status_code >= 500 or response.status_code == 429
                problem = f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                retry, problem = True, str(exc) or type(exc).__name__
            if not retry or attempt == ATTEMPTS:
                log.warning("a2a push: task %s to %s failed (%d attempts): %s", task_id, config.url, attempt, problem)
                return
            await asyncio.sleep(delay)
            delay *= 2

    async def aclose(self) -> None:
        for worker in list(self._workers):
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
