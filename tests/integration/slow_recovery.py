"""`python -m tests.integration.slow_recovery worker <context>`: an orderstream worker whose table
recovery is slow, as on a loaded machine: 50 ms a changelog record, and 2 s for its tables to
take note that recovery completed. A standby then has records fetched and waiting when its
recovery completes: the ones Faust used to drop (README, bug 11)."""

import asyncio
import sys

from faust.tables.base import Collection

from orderstream import cli

applied, completed = Collection.on_changelog_event, Collection.on_recovery_completed


async def apply_slowly(self: Collection, event: object) -> None:
    await asyncio.sleep(0.05)
    await applied(self, event)


async def complete_slowly(self: Collection, *args: object) -> None:
    await asyncio.sleep(2)
    await completed(self, *args)


Collection.on_changelog_event, Collection.on_recovery_completed = apply_slowly, complete_slowly

if __name__ == "__main__":
    sys.exit(cli.main())
