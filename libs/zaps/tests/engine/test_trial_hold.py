"""A trial run has no job while `zaps run` executes it: its hold keeps housekeeping from taking it for stuck, and
lets it go when the command stops, so a trial never stays `running` for ever."""

import psycopg
from psycopg.rows import dict_row
from zaps.engine import repository, trial_repository


async def test_housekeeping_leaves_a_held_trial_alone_and_recovers_it_once_released(database_url):
    async with await psycopg.AsyncConnection.connect(database_url, row_factory=dict_row, autocommit=True) as conn:
        _, run_id = await trial_repository.store_trial(
            conn, automation="enginetest.forward", source="s", kind=None, payload={}, mode="dry-run", code_version="t"
        )
        async with await psycopg.AsyncConnection.connect(database_url, row_factory=dict_row) as holder:
            await trial_repository.hold(holder, run_id)
            claimed = await repository.claim_run(conn, run_id, "zaps run", "t")  # the trial's own work goes on
            assert claimed is not None
            async with conn.transaction():
                assert await repository.recover_orphan(conn, run_id, max_recoveries=3) is None
            await holder.rollback()  # what the command's exit does
        async with conn.transaction():
            assert await repository.recover_orphan(conn, run_id, max_recoveries=3) == "requeued"
