"""``python -m featuredsl``: the same command line as the ``featuredsl`` script."""

from featuredsl.cli.main import main

raise SystemExit(main())
