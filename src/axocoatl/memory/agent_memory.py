"""One agent's memory across the four tiers, as the turn pipeline uses it.

Before a turn: restore the checkpoint (once), passive recall, compaction of the turn's
thread, and the memory context for the system prompt. After a turn: the writes that join
the turn's transaction (semantic memory row, daily-log entries, thread state, checkpoint).
Several turns of one agent may run at once (steps of different runs, different threads);
each has its own TurnMemory. MemoryServices is the Runtime-owned part shared by all
agents (store, embedder, team blocks).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from axocoatl.config.schema import AgentConfig
from axocoatl.core.errors import AxocoatlError
from axocoatl.core.ids import Clock
from axocoatl.core.messages import AgentInput, AgentOutput, ChatMessage, TokenUsage, ToolSpec
from axocoatl.memory import compaction, consolidation, daily_log
from axocoatl.memory.checkpoint import AgentState, restore
from axocoatl.memory.core import CoreMemory, SharedBlocks
from axocoatl.memory.embedding import Embedder, default_embedder
from axocoatl.memory.prompts import POST_COMPACTION_HINT, RECALL_HEADER, SUMMARY_HEADER, TOOLS_HINT
from axocoatl.memory.semantic import Recollection, SemanticMemory
from axocoatl.memory.session import Compaction, Session, window_of
from axocoatl.memory.tools import memory_tools
from axocoatl.providers.base import Provider
from axocoatl.store import LedgerEntry, MemoryRecord, Store, WriteBatch
from axocoatl.tokens.budget import BudgetUsage
from axocoatl.tokens.counter import PER_MESSAGE_OVERHEAD, PER_REQUEST_OVERHEAD, TokenCounter
from axocoatl.tools.registry import Tool

log = logging.getLogger(__name__)

RECALL_LINE_CHARS = 600  # one injected memory, flattened to a line
RECALL_FRACTION = 0.15  # injected memories take at most this share of the compaction target
MEMORY_TEXT_CHARS = 4000  # of each side of an exchange, kept as its semantic memory


class MemoryServices:
    """What every agent's memory shares; owned by the Runtime."""

    def __init__(self, store: Store, clock: Clock, counter: TokenCounter, embedder: Embedder | None = None) -> None:
        self.store = store
        self.clock = clock
        self.counter = counter
        self.embedder = embedder or default_embedder()
        self.shared = SharedBlocks(store)

    def for_agent(self, config: AgentConfig) -> AgentMemory:
        self.shared.declare(config.memory.core.blocks)
        return AgentMemory(config, self)


@dataclass
class TurnMemory:
    """What memory contributes to one turn."""

    history: list[ChatMessage]
    context: Callable[[], str]  # re-rendered per request: core-memory edits show up within the turn
    usage: TokenUsage = field(default_factory=TokenUsage)  # spent by memory work (the summary call)
    ledger: list[LedgerEntry] = field(default_factory=list)
    llm_calls: int = 0
    recalled: list[Recollection] = field(default_factory=list)
    record: MemoryRecord | None = None  # the exchange's semantic-memory row, once built
    compacted: bool = False  # the thread's compaction state changed: it is written with the turn


class AgentMemory:
    def __init__(self, config: AgentConfig, services: MemoryServices) -> None:
        self.config = config
        self.agent_id = config.id
        self.store = services.store
        self._services = services
        self._clock = services.clock
        self._counter = services.counter
        self.semantic = SemanticMemory(config.id, services.store, services.embedder, services.clock)
        self.state = AgentState()
        self._core: CoreMemory | None = None
        self._restored = False
        self._loaded = False
        self._lock_: asyncio.Lock | None = None
        self._tools_: dict[str, Tool] | None = None
        self._hints = TOOLS_HINT if config.memory.tools else ""
        self._token_cache: dict[tuple[str, int], int] = {}  # (thread, seq) -> tokens of that message

    # ------------------------------------------------------------------ loading

    @property
    def _lock(self) -> asyncio.Lock:
        if self._lock_ is None:  # made on first use: idle agents stay small
            self._lock_ = asyncio.Lock()
        return self._lock_

    @property
    def _tools(self) -> dict[str, Tool]:
        if self._tools_ is None:
            self._tools_ = memory_tools(self) if self.config.memory.tools else {}
        return self._tools_

    def tools(self) -> dict[str, Tool]:
        return dict(self._tools)

    async def restore_state(self) -> AgentState:
        """Restore the checkpoint (once per process); cheap: one small query."""
        if not self._restored:
            async with self._lock:
                if not self._restored:
                    self.state = restore(self.agent_id, await self.store.load_checkpoints(self.agent_id))
                    self._restored = True
        return self.state

    async def ensure_loaded(self) -> AgentState:
        """The checkpoint, the core blocks and the semantic memory, loaded (once per process)."""
        state = await self.restore_state()
        if not self._loaded:
            await self.core_memory()
            await self.semantic.load()
            self._loaded = True
        return state

    async def core_memory(self) -> CoreMemory:
        if self._core is None:
            self._core = await CoreMemory.load(
                self.agent_id, list(self.config.memory.core.blocks), self._services.shared, self.store, self._clock
            )
        return self._core

    def core_has_content(self) -> bool:
        """Whether a core block holds text (the edit tools beyond append are offered only then)."""
        return self._core is not None and any(block.value for block in self._core.blocks)

    # ------------------------------------------------------------------ before the turn

    async def prepare(
        self,
        session: Session | None,
        agent_input: AgentInput,
        *,
        provider: Provider,
        model: str,
        tools: tuple[ToolSpec, ...],
        spent_before: BudgetUsage,
        run_id: str | None,
        replay_context: str | None = None,
    ) -> TurnMemory:
        """What memory adds to a turn. ``session`` None: a run-scoped step (no conversation history).

        ``replay_context``: the context an earlier attempt of this run-scoped step sent, sent again
        unchanged. A step on a thread (``thread:`` on the agent) sees the thread as it is now instead.
        """
        await self.ensure_loaded()
        if replay_context is not None and session is None:
            return TurnMemory(history=[], context=lambda: replay_context)
        core = await self.core_memory()
        caps = provider.capabilities(agent_input.model_override or model)
        target = int(caps.max_context_tokens * compaction.TRIGGER_FRACTION)
        recalled = await self._passive_recall(agent_input.content, session)
        recall_text = _render_recall(recalled, self._counter, int(target * RECALL_FRACTION))
        turn = TurnMemory(history=[], context=lambda: "", recalled=recalled)

        def context() -> str:
            parts = [core.render(), recall_text]
            # Read at each render: a compaction during this turn replaces the thread's summary.
            summary = session.compaction.summary if session is not None else ""
            if summary:
                parts.append(f"{SUMMARY_HEADER}\n{summary}")
                if self._tools:  # the hint points at recall_search
                    parts.append(POST_COMPACTION_HINT)
            parts.append(self._hints)
            return "\n\n".join(p for p in parts if p)

        turn.context = context
        if session is None:
            return turn
        through = session.compaction.through_seq
        if through and through < session.first_seq:
            session.compaction = Compaction()  # the thread was reset since: the summary is of another one
        window = self._window(session)
        fixed = [agent_input.system_override or self.config.system_prompt or "", context(), agent_input.content]
        if self._request_tokens(session, window, fixed, tools, target) > target:
            await self._compact(session, window, turn, provider, model, target, fixed, tools, spent_before, run_id)
            window = self._window(session)
        turn.history = window
        return turn

    def _window(self, session: Session) -> list[ChatMessage]:
        since = session.since(session.compaction.through_seq)
        return window_of(since, self.config.memory.max_session_messages)

    async def _passive_recall(self, query: str, session: Session | None) -> list[Recollection]:
        recall = self.config.memory.recall
        wanted = recall.passive_inject and (session is not None or recall.in_steps)
        if not wanted or len(self.semantic) == 0 or not query.strip():
            return []
        try:
            if session is None:
                return await self.semantic.search(query, recall.top_k, recall.min_score)
            # Exchanges still in the thread's live context (the window after any compaction) are
            # not worth repeating as "memories".
            in_context = session.next_seq - len(self._window(session))
            return await self.semantic.search(
                query, recall.top_k, recall.min_score, before_seq=in_context, thread=session.thread
            )
        except Exception:  # recall is an aid: a failure must not cost the turn
            log.exception("agent %s: passive recall failed", self.agent_id)
            return []

    def _request_tokens(
        self, session: Session, window: list[ChatMessage], fixed: list[str], tools: tuple[ToolSpec, ...], target: int
    ) -> int:
        """Tokens of the request this turn would send; counted exactly only when a cheap bound exceeds ``target``."""
        tool_text = "".join(t.name + t.description + str(t.parameters) for t in tools)
        texts = [*fixed, tool_text]
        overhead = PER_REQUEST_OVERHEAD + PER_MESSAGE_OVERHEAD * (len(window) + 2)
        # A token covers at least one UTF-8 byte, so the byte count bounds the token count from above:
        # most turns stop here without tokenizing anything.
        upper = overhead + sum(len(t.encode()) for t in texts) + sum(_message_bytes(m) for m in window)
        if upper <= target:
            return upper
        count = self._counter.count
        first = session.next_seq - len(window)
        return (
            overhead
            + sum(count(t) for t in texts)
            + sum(self._message_tokens(session.thread, first + i, m) for i, m in enumerate(window))
        )

    def _message_tokens(self, thread: str, seq: int, message: ChatMessage) -> int:
        cached = self._token_cache.get((thread, seq))
        if cached is None:
            cached = self._counter.count_message(message)
            self._token_cache[(thread, seq)] = cached
        return cached

    async def _compact(
        self,
        session: Session,
        window: list[ChatMessage],
        turn: TurnMemory,
        provider: Provider,
        model: str,
        target: int,
        fixed: list[str],
        tools: tuple[ToolSpec, ...],
        spent_before: BudgetUsage,
        run_id: str | None,
    ) -> None:
        state = session.compaction
        first_window_seq = session.next_seq - len(window)
        counts = [self._message_tokens(session.thread, first_window_seq + i, m) for i, m in enumerate(window)]
        fixed_tokens = self._request_tokens(session, [], fixed, tools, -1)
        keep = max(int(target * compaction.KEEP_FRACTION), 0)
        reserve = compaction.summary_reserve(target)
        keep = min(keep, max(target - fixed_tokens - reserve, 0))
        cut = compaction.cut_index(window, counts, keep)
        if cut == 0:
            log.warning("agent %s: the context is over the window but no older turn can be compacted", self.agent_id)
            return
        cut_seq = first_window_seq + cut
        start_seq = max(state.through_seq, session.first_seq)
        older = session.since(start_seq)[: cut_seq - start_seq]
        now = self._clock.now()

        # Archive FIRST, in its own transaction: the raw turns are in the daily log before any
        # summary replaces them in the context (they also stay in session_messages).
        archive_from = max(start_seq, state.archived_through)
        if archive_from < cut_seq:
            raw = session.since(archive_from)[: cut_seq - archive_from]
            archive = daily_log.compaction_archive(self.agent_id, now, raw, archive_from, cut_seq - 1)
            # The thread row records how far the log holds the raw turns, so a retry after a
            # failed summary does not archive them twice; it only advances once written.
            state.archived_through = cut_seq
            batch = WriteBatch(log_entries=[archive], thread_states=[session.state_row()])
            try:
                await self.store.write(batch)
            except BaseException:
                state.archived_through = archive_from
                raise

        caps = provider.capabilities(model)
        text = compaction.transcript(
            state.summary,
            older,
            self._counter,
            int(caps.max_context_tokens * compaction.TRANSCRIPT_FRACTION),
        )
        summary = await compaction.summarize(
            agent=self.config,
            provider=provider,
            model=model,
            text=text,
            counter=self._counter,
            clock=self._clock,
            spent_before=spent_before,
            run_id=run_id,
            max_tokens=reserve,
        )
        if summary is not None:
            turn.usage = turn.usage + summary.usage
            turn.ledger.extend(summary.ledger)
            turn.llm_calls += summary.calls
        new_summary = summary.text if summary and summary.text else compaction.trimmed_note(state.summary, len(older))
        session.compaction = Compaction(new_summary, cut_seq, max(state.archived_through, cut_seq))
        turn.compacted = True
        for key in [k for k in self._token_cache if k[0] == session.thread and k[1] < cut_seq]:
            del self._token_cache[key]
        log.info("agent %s: compacted %d messages (through seq %d)", self.agent_id, len(older), cut_seq - 1)

    # ------------------------------------------------------------------ after the turn

    def turn_writes(
        self,
        session: Session | None,
        turn: TurnMemory,
        agent_input: AgentInput,
        output: AgentOutput,
        now: float,
        run_id: str | None,
    ) -> WriteBatch:
        """The memory writes that commit with the turn; call ``committed`` once they are durable."""
        # Recall shows a few hundred characters of a memory and the embedder reads fewer: a large
        # exchange is remembered by its beginning (the whole text lives in the step or the thread).
        text = (
            f"User: {daily_log.clip(agent_input.content, MEMORY_TEXT_CHARS)}\n"
            f"Assistant: {daily_log.clip(output.content, MEMORY_TEXT_CHARS)}"
        )
        metadata: dict[str, object] = {"run_id": run_id} if run_id else {}
        if session is not None:
            metadata.update(thread=session.thread, session_seq=session.next_seq)
        turn.record = self.semantic.record(text, now, metadata)
        entries = [daily_log.tool_call(self.agent_id, now, r) for r in output.tool_calls]
        entries.append(daily_log.conversation(self.agent_id, now, agent_input.content, output.content, run_id=run_id))
        state = self.state
        after = AgentState(
            version=state.version,
            turns=state.turns + 1,
            usage_in=state.usage_in + output.usage.input,
            usage_out=state.usage_out + output.usage.output,
            last_active=now,
            last_consolidated=state.last_consolidated,
            consolidated_through=state.consolidated_through,
        )
        batch = WriteBatch(
            memories=[turn.record],
            memory_vectors=self.semantic.take_unsaved(),  # earlier exchanges' vectors ride along
            log_entries=entries,
            checkpoints=[after.write(self.agent_id, now, self.config.memory.checkpoints.keep)],
        )
        if session is not None and turn.compacted:
            batch.thread_states.append(session.state_row())
        return batch

    def has_new_activity(self) -> bool:
        """Whether anything happened since the last consolidation pass (restore_state first)."""
        last_active = self.state.last_active
        if last_active is None:
            return False
        return self.state.last_consolidated is None or last_active > self.state.last_consolidated

    def committed(self, turn: TurnMemory, batch: WriteBatch, output: AgentOutput) -> None:
        """The turn's writes are durable: count it (concurrent turns each add their own) and embed it."""
        state = self.state
        state.turns += 1
        state.usage_in += output.usage.input
        state.usage_out += output.usage.output
        state.last_active = max(state.last_active or 0.0, batch.checkpoints[0].ts if batch.checkpoints else 0.0)
        if batch.checkpoints:
            state.version = max(state.version, batch.checkpoints[0].version)
        if turn.record is not None:
            # Embedded by the first search that could find it: for a conversation turn that is the
            # first passive recall after the exchange left the thread's live context (or a search
            # from another thread, or recall_search), so a conversation shorter than its window
            # embeds no exchange at all. With passive recall in steps, every step's search takes
            # every row: embed now.
            recall = self.config.memory.recall
            self.semantic.committed(turn.record, embed_now=recall.passive_inject and recall.in_steps)

    def failure_writes(self, now: float, session: Session | None, turn: TurnMemory | None) -> WriteBatch:
        """After a failed turn: the activity time, and a compaction that was paid for."""
        self.state.last_active = now
        batch = WriteBatch(checkpoints=[self.state.write(self.agent_id, now, self.config.memory.checkpoints.keep)])
        if session is not None and turn is not None and turn.compacted:
            batch.thread_states.append(session.state_row())
        return batch

    def forget_thread(self, thread: str) -> None:
        """The thread was reset: its cached token counts belong to the old conversation."""
        for key in [k for k in self._token_cache if k[0] == thread]:
            del self._token_cache[key]

    # ------------------------------------------------------------------ consolidation

    async def consolidate(
        self, provider: Provider, model: str, spent_before: BudgetUsage
    ) -> consolidation.ConsolidationResult:
        """One sleep-time pass over the activity since the last pass (see memory.consolidation)."""
        await self.ensure_loaded()
        core = await self.core_memory()
        result = consolidation.ConsolidationResult("skipped")
        if not [b for b in core.blocks if not b.shared]:
            result.reason = "no local core-memory blocks"
            return result
        activity, _ = await self.store.read_log(
            self.agent_id,
            since=self.state.consolidated_through,
            entry_types=("conversation",),
            limit=consolidation.RECENT_ENTRIES,
        )
        if not activity:
            result.reason = "no new activity since the last pass"
            return result
        now = self._clock.now()
        try:
            reply, usage = await consolidation.ask_model(
                agent=self.config,
                provider=provider,
                model=model,
                text=consolidation.prompt([b for b in core.blocks if not b.shared], activity),
                counter=self._counter,
                spent_before=spent_before,
            )
        except AxocoatlError as exc:
            log.info("agent %s: consolidation failed: %s", self.agent_id, exc)  # the result reports it
            return consolidation.ConsolidationResult("failed", reason=str(exc))
        result = consolidation.ConsolidationResult("done", usage=usage)
        edits = consolidation.parse_edits(reply)
        if edits is None:
            result.rejected.append("the reply was not a JSON array of edits")
            edits = []
        changes = consolidation.apply_edits(core, edits, result)
        batch = WriteBatch(ledger=[consolidation.ledger_entry(self.config, provider, model, usage, now)])
        for block, value in changes:
            block.value = value
            batch.core_blocks.append(block.record(now))
        batch.log_entries.append(daily_log.consolidation_entry(self.agent_id, now, result.to_json()))
        self.state.last_consolidated = now
        self.state.consolidated_through = max(r.ts for r in activity)
        batch.checkpoints.append(self.state.write(self.agent_id, now, self.config.memory.checkpoints.keep))
        await self.store.write(batch)
        return result

    async def aclose(self) -> None:
        """Store the vectors computed so far; never wait for more (exit stays O(1)).

        Memories not embedded yet keep their text row and are embedded when the agent next loads.
        """
        await self.semantic.stop()
        await self.semantic.save()


def _message_bytes(message: ChatMessage) -> int:
    size = len(message.content.encode())
    for call in message.tool_calls:
        size += len(call.name) + len(str(call.arguments).encode())
    return size + len((message.name or "").encode())


def _render_recall(found: list[Recollection], counter: TokenCounter, budget: int) -> str:
    """The recall section, best first, within ``budget`` tokens (small windows get fewer memories)."""
    if not found:
        return ""  # nothing to count
    lines: list[str] = []
    used = counter.count(RECALL_HEADER)
    for item in found:
        flat = " ".join(item.text.split())
        if len(flat) > RECALL_LINE_CHARS:
            flat = flat[: RECALL_LINE_CHARS - 1] + "…"
        line = f"- {flat}"
        used += counter.count(line) + 1
        if used > budget:
            break
        lines.append(line)
    return f"{RECALL_HEADER}\n" + "\n".join(lines) if lines else ""
