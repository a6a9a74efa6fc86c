"""Turns of one conversation thread stay ordered across nodes on one PostgreSQL database.

Many chat turns on the same thread of the same agent are sent at once, split across two daemons; and
many runs of a workflow whose step's agent has ``thread:`` set are started on both daemons at once.
Each node takes the thread's lease in the database before it reads the session, so every turn sees
all the turns committed before it: the mock's reply names how many user turns its request held
(``{turn}``), and the session ends as one exchange after another, numbered 1, 2, 3 … with no
message lost. Without the lease the two nodes' turns overlap and repeat a number.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from tests.server.support import Daemon, stop_nodes

from axocoatl.store.postgres import PostgresStore

CONFIG = """
agents:
  - id: chat
    provider: mock
    options: {latency_ms: 250, reply: "turn {turn}: {input}"}
  - id: scribe
    provider: mock
    thread: notes
    options: {latency_ms: 250, reply: "turn {turn}: {input}"}
workflows:
  - id: note
    agents: [scribe]
store:
  backend: postgres
  dsn: ${AXOCOATL_DSN}
"""
TURNS = 12


def node(tmp_path: Path, name: str, dsn: str) -> Daemon:
    directory = tmp_path / name
    directory.mkdir()
    (directory / "axocoatl.yaml").write_text(CONFIG)
    return Daemon(directory, env={"AXOCOATL_DSN": dsn})


def send(daemon: Daemon, text: str) -> str:
    with daemon.client(timeout=120.0) as client:
        answer = client.post("/api/agents/chat/execute", json={"input": text, "thread": "shared"})
        assert answer.status_code == 200, answer.text
        return str(answer.json()["output"])


async def session_of(dsn: str, agent_id: str = "chat", thread: str = "shared") -> list[tuple[str, str]]:
    store = PostgresStore(dsn)
    await store.open()
    try:
        record = await store.load_session(agent_id, thread)
    finally:
        await store.close()
    return [(m.role, m.content) for m in record.messages if m.role in ("user", "assistant")]


async def statuses_of(dsn: str) -> list[str]:
    store = PostgresStore(dsn)
    await store.open()
    try:
        return [r.status for r in await store.list_runs(limit=1000)]
    finally:
        await store.close()


def assert_in_order(session: list[tuple[str, str]], texts: list[str]) -> None:
    assert len(session) == 2 * len(texts)  # no message lost
    for k in range(len(texts)):  # each exchange whole, in the order the turns ran, each seeing those before
        (user_role, asked), (assistant_role, answered) = session[2 * k], session[2 * k + 1]
        assert (user_role, assistant_role) == ("user", "assistant")
        assert answered == f"turn {k + 1}: {asked}"
    assert sorted(content for role, content in session if role == "user") == sorted(texts)


@pytest.mark.slow
def test_turns_of_one_thread_sent_to_two_nodes_run_in_order(tmp_path: Path, postgres_dsn: str) -> None:
    nodes = [node(tmp_path, f"node{i}", postgres_dsn) for i in (1, 2)]
    for n in nodes:
        n.start()
    try:
        texts = [f"message {i}" for i in range(TURNS)]
        with ThreadPoolExecutor(max_workers=TURNS) as pool:
            replies = list(pool.map(lambda i: send(nodes[i % 2], texts[i]), range(TURNS)))
        # Every turn saw every turn before it: the replies number the turns 1..TURNS, none twice.
        assert sorted(int(r.split(":")[0].removeprefix("turn ")) for r in replies) == list(range(1, TURNS + 1))
        assert_in_order(asyncio.run(session_of(postgres_dsn)), texts)
    finally:
        stop_nodes(nodes)


@pytest.mark.slow
def test_threaded_steps_of_runs_driven_by_two_nodes_run_in_order(tmp_path: Path, postgres_dsn: str) -> None:
    nodes = [node(tmp_path, f"node{i}", postgres_dsn) for i in (1, 2)]
    for n in nodes:
        n.start()
    try:
        texts = [f"note {i}" for i in range(TURNS)]

        def submit(i: int) -> None:
            with nodes[i % 2].client() as client:
                answer = client.post("/api/workflows/note/execute", json={"input": texts[i]})
                assert answer.status_code in (200, 202), answer.text

        with ThreadPoolExecutor(max_workers=TURNS) as pool:
            list(pool.map(submit, range(TURNS)))
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            statuses = asyncio.run(statuses_of(postgres_dsn))
            if len(statuses) == TURNS and all(s == "completed" for s in statuses):
                break
            time.sleep(0.5)
        assert asyncio.run(statuses_of(postgres_dsn)) == ["completed"] * TURNS, nodes[0].log()[-3000:]
        assert_in_order(asyncio.run(session_of(postgres_dsn, "scribe", "notes")), texts)
    finally:
        stop_nodes(nodes)
