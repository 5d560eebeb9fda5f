"""Timeouts every start of a Promptly workflow passes (client starts in services/ and
activities/, child starts in workflows/), and those of the workflows' own writes, defined once
below them all."""

from datetime import timedelta

# Every start (client, child) passes this; continue-as-new inherits it. A workflow task a
# killed worker had started is retried only after this timeout (SDK default 10 s), so it is
# part of every timer's delay after a crash (docs/chaos.md). A task replays one bounded
# history (continue-as-new keeps them short) in well under a second, so 5 s leaves headroom
# on a loaded machine.
WORKFLOW_TASK_TIMEOUT = timedelta(seconds=5)

# A case's record, a staff task opened or closed: each is one PostgreSQL write.
RECORD_TIMEOUT = timedelta(seconds=30)
