"""Data in and out: ``inputs`` opens any supported source, validates it against the declared
input schema and widens it to the declared types (what both ``transform`` and ``fit`` read);
``files`` runs the streaming file-to-file transform of the CLI."""
