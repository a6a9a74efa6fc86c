"""A conversation thread's lease on a shared database: turns of one thread sent to different nodes run in order.

On one node the agent's per-thread lock orders a thread's turns. When several nodes share one PostgreSQL
database, two of them may get a turn of the same thread (two runs' steps, two chat requests): each takes
the thread's lease in the database first (a compare-and-set on ``thread_leases``), reads the session only
then, and gives the lease up after its commit. A node that finds the lease held polls, backing off, until
it is released or has expired: a node that died holding it blocks the thread for at most ``LEASE_SECS``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator

from axocoatl.core.ids import Clock
from axocoatl.store import Store

log = logging.getLogger(__name__)

LEASE_SECS = 30.0  # a lease nobody renews (its node died) expires this long after its last renewal
RENEW_SECS = LEASE_SECS / 3  # a live holder renews this often, so a slow store call does not lose it
POLL_FIRST_SECS = 0.02  # the first wait for a held lease; doubled each time up to POLL_MAX_SECS
POLL_MAX_SECS = 0.5


@contextlib.asynccontextmanager
async def thread_lease(store: Store, clock: Clock, agent_id: str, thread: str) -> AsyncIterator[str]:
    """Hold the thread's lease for the body (waiting while another node holds it), renewing it meanwhile.

    Yields the lease's token: the turn's session append names it, so it commits only under the lease."""
    token = secrets.token_hex(8)
    wait = POLL_FIRST_SECS
    try:
        while True:
            now = clock.now()
            if await store.take_thread_lease(agent_id, thread, token=token, now=now, expires_at=now + LEASE_SECS):
                break
            await asyncio.sleep(wait)
            wait = min(wait * 2, POLL_MAX_SECS)
    except asyncio.CancelledError:
        # The caller gave up; a take that committed as it was cancelled must not hold the thread until expiry.
        await asyncio.shield(store.release_thread_lease(agent_id, thread, token=token))
        raise
    renewal = asyncio.create_task(_renew(store, clock, agent_id, thread, token))
    try:
        yield token
    finally:
        renewal.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewal
        try:
            # Shielded: a cancelled turn still gives the thread up at once (else the next turn waits out the lease).
            await asyncio.shield(store.release_thread_lease(agent_id, thread, token=token))
        except Exception as exc:  # the lease expires by itself; the turn's own outcome stands
            log.warning(
                "could not release the lease of thread %s/%s (it expires in %ss): %s", agent_id, thread, LEASE_SECS, exc
            )


async def _renew(store: Store, clock: Clock, agent_id: str, thread: str, token: str) -> None:
    while True:
        await asyncio.sleep(RENEW_SECS)
        try:
            now = clock.now()
            if not await store.take_thread_lease(agent_id, thread, token=token, now=now, expires_at=now + LEASE_SECS):
                log.warning("the lease of thread %s/%s was taken over while a turn ran on it", agent_id, thread)
                return
        except Exception as exc:  # a store outage: try again at the next renewal, the lease lasts LEASE_SECS
            log.warning("could not renew the lease of thread %s/%s: %s", agent_id, thread, exc)
