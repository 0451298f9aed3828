"""The two backends lowered from one bound IR program: :mod:`.polars_backend` (batch, a
Polars plan) and :mod:`.row_backend` (serving, generated Python per row), with the row side's
input and output conversion in :mod:`.row_input`."""
