"""``python -m router.cli``: the ``policy-router`` command without the installed script."""

from router.cli import main

main()
