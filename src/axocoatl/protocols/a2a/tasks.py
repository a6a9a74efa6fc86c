"""The A2A task store is the project's database: tasks survive a daemon restart (docs/a2a.md).

One store per exposed target (agent or workflow): a task is found only through the endpoint
that created it. A task whose daemon process is gone (the daemon restarted under it) is read
back from what it drove: the workflow run's outcome, or, for an agent turn that died with the
old process, a failure saying so.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from a2a.helpers.proto_helpers import new_text_artifact, new_text_message
from a2a.server.context import ServerCallContext
from a2a.server.owner_resolver import resolve_user_scope
from a2a.server.tasks.task_store import TaskStore
from a2a.types.a2a_pb2 import ListTasksRequest, ListTasksResponse, Message, Role, Task, TaskState
from a2a.utils.constants import DEFAULT_LIST_TASKS_PAGE_SIZE
from a2a.utils.errors import InvalidParamsError
from a2a.utils.task import ListTasksCursor, decode_list_tasks_cursor, encode_list_tasks_cursor

from axocoatl.store import A2ATaskRecord, Store

OUTPUT_ARTIFACT = "output"  # the reply
STEP_PREFIX = "step:"  # a workflow streams each step's reply as artifact step:AGENT
LIVE_STATES = frozenset({TaskState.TASK_STATE_SUBMITTED, TaskState.TASK_STATE_WORKING})
RUN_KEY = "axocoatl.run_id"
THREAD_KEY = "axocoatl.thread"
PROCESS_KEY = "axocoatl.process"  # the daemon process that drives the task
LOST_KEY = "axocoatl.lost"  # set on a task whose turn died with its daemon: nothing was kept, send it again


def _sort_key(task: Task) -> tuple[int, str]:
    stamp = task.status.timestamp.ToNanoseconds() if task.status.HasField("timestamp") else 0
    return stamp, task.id


def _stamp(task: Task) -> None:
    task.status.timestamp.FromDatetime(datetime.now(UTC))


class DatabaseTaskStore(TaskStore):
    """The a2a-sdk TaskStore of one target, over our Store (table a2a_tasks)."""

    def __init__(self, store: Store, target: str, clock: Callable[[], float], process: str) -> None:
        self._store = store
        self._target = target
        self._clock = clock
        self._process = process  # this daemon process: the tasks it drives are never settled here

    async def save(self, task: Task, context: ServerCallContext) -> None:
        fields = task.metadata.fields
        run_id = fields[RUN_KEY].string_value if RUN_KEY in fields else None
        thread = fields[THREAD_KEY].string_value if THREAD_KEY in fields else None
        record = A2ATaskRecord(
            task_id=task.id,
            target=self._target,
            context_id=task.context_id,
            owner=resolve_user_scope(context),
            state=TaskState.Name(task.status.state),
            updated_at=self._clock(),
            data=task.SerializeToString(),
            run_id=run_id,
            thread=thread,
        )
        await self._store.save_a2a_task(record)

    async def get(self, task_id: str, context: ServerCallContext) -> Task | None:
        record = await self._store.get_a2a_task(self._target, task_id)
        if record is None or record.owner != resolve_user_scope(context):
            return None
        return await self._settled(record, context)

    async def list(self, params: ListTasksRequest, context: ServerCallContext) -> ListTasksResponse:
        records = await self._store.list_a2a_tasks(self._target, resolve_user_scope(context))
        tasks = [await self._settled(r, context) for r in records]
        if params.context_id:
            tasks = [t for t in tasks if t.context_id == params.context_id]
        if params.status:
            tasks = [t for t in tasks if t.status.state == params.status]
        if params.HasField("status_timestamp_after"):
            after_ns = params.status_timestamp_after.ToNanoseconds()
            tasks = [t for t in tasks if _sort_key(t)[0] >= after_ns]
        tasks.sort(key=_sort_key, reverse=True)
        start = 0
        if params.page_token:
            cursor = decode_list_tasks_cursor(params.page_token)
            if cursor is None:
                raise InvalidParamsError(f"Invalid page token: {params.page_token}")
            after = (cursor.timestamp_ns or 0, cursor.task_id)
            start = next((i for i, t in enumerate(tasks) if _sort_key(t) < after), len(tasks))
        size = params.page_size or DEFAULT_LIST_TASKS_PAGE_SIZE
        page = tasks[start : start + size]
        next_token = None
        if start + size < len(tasks):
            stamp, last_id = _sort_key(page[-1])
            next_token = encode_list_tasks_cursor(ListTasksCursor(timestamp_ns=stamp, task_id=last_id))
        return ListTasksResponse(tasks=page, next_page_token=next_token, total_size=len(tasks), page_size=size)

    async def delete(self, task_id: str, context: ServerCallContext) -> None:
        await self._store.delete_a2a_task(self._target, task_id)

    async def _settled(self, record: A2ATaskRecord, context: ServerCallContext) -> Task:
        """The task, brought up to date when nothing in this process drives it any more."""
        task = Task()
        task.ParseFromString(record.data)
        fields = task.metadata.fields
        driver = fields[PROCESS_KEY].string_value if PROCESS_KEY in fields else None
        if task.status.state not in LIVE_STATES or driver == self._process:
            return task
        if record.run_id is not None:
            run = await self._store.get_run(record.run_id)
            if run is None or run.status == "running":
                return task  # the run goes on (resumed by this daemon, or by another process)
            if run.status == "completed":
                output = run.final_output or ""
                task.artifacts.append(new_text_artifact(OUTPUT_ARTIFACT, output, artifact_id=OUTPUT_ARTIFACT))
                task.status.state = TaskState.TASK_STATE_COMPLETED
                task.status.message.CopyFrom(_agent_text(output, task))
            else:
                error = f"workflow run {run.run_id} failed: {run.error or 'no reason recorded'}"
                task.status.state = TaskState.TASK_STATE_FAILED
                task.status.message.CopyFrom(_agent_text(error, task))
        else:
            error = "the daemon restarted before the agent answered; nothing of that turn was kept: send it again"
            task.metadata.update({LOST_KEY: True})
            task.status.state = TaskState.TASK_STATE_FAILED
            task.status.message.CopyFrom(_agent_text(error, task))
        _stamp(task)
        await self.save(task, context)
        return task


def _agent_text(text: str, task: Task) -> Message:
    return new_text_message(text, context_id=task.context_id, task_id=task.id, role=Role.ROLE_AGENT)
