"""The serving monitor (SPEC 10): snapshots of serving traffic and their report."""
