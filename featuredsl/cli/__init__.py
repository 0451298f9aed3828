"""The ``featuredsl`` command line (SPEC section 8).

``featuredsl.cli.main`` is the entry point: an argparse dispatcher that imports each command's
module only when that command runs, so ``featuredsl --help`` and ``featuredsl check`` do not
pay for Polars. Each command is a module ``featuredsl.cli.<command>`` exposing ``HELP`` (one
line), ``add_arguments(parser)`` and ``run(args) -> int``; shared plumbing (errors, exit codes,
loading a spec or an artifact, data formats) is in ``featuredsl.cli._common``.

Exit codes: 0 success, 1 a finding (failed check, parity mismatch, ...), 2 a usage or input
error. No traceback ever reaches the user: errors are one clear line on stderr.
"""
