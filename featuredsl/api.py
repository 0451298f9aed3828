"""The public API (SPEC section 6): ``compile``, ``compile_file`` and :class:`Spec`."""

from __future__ import annotations

import datetime as dt
import os
import threading
import warnings
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import polars as pl

from featuredsl import artifact, ir, matrix
from featuredsl.backends.polars_backend import BatchPlan, PolarsLowering
from featuredsl.backends.row_backend import RowObserver, build_evaluator
from featuredsl.bind import bind, inputs_read
from featuredsl.checker import check_source
from featuredsl.data import inputs as data_io
from featuredsl.errors import (
    Diagnostic,
    FeatureDSLError,
    InputError,
    NotFittedError,
    first_line,
)
from featuredsl.fit.fitting import FitResult, FitWarning
from featuredsl.windows import batch as window_batch
from featuredsl.windows import persist
from featuredsl.windows.online import MemoryState
from featuredsl.windows.sources import prepare_sources

if TYPE_CHECKING:
    import numpy as np

    from featuredsl.types import Type
    from featuredsl.windows.redis_state import RedisState


class OnlineState(Protocol):
    """What ``online_state()`` returns and ``row_evaluator(state=)`` takes: ``MemoryState``
    (in process) or ``RedisState`` (:mod:`featuredsl.windows.redis_state`)."""

    program: ir.BoundProgram

    def ingest(self, source: str, event: object) -> None:
        """Add one event of ``source`` (validated first; a bad one changes nothing)."""

    def ingest_batch(self, source: str, events: object) -> int:
        """Add many events (dicts, a frame or a file), all validated before any is added."""

    def evict(self) -> None:
        """Drop the events no allowed read can see any more."""

    def reader(self) -> Callable[..., tuple]:
        """The function the generated row code calls to read every window of a row."""


class Observer(Protocol):
    """What ``row_evaluator(monitor=, logger=)`` take: ``fd.Monitor``, ``fd.FeatureLogger``."""

    def row_observer(self, spec: Spec) -> RowObserver:
        """The hooks generated into ``spec``'s evaluator (refusing a spec it cannot watch)."""


class Spec:
    """A compiled `.feat` spec: typed, checked, ready for both backends.

    Build one with :func:`compile` or :func:`compile_file`. ``features`` are the output names in
    declaration order, ``inputs`` the declared input schema, ``warnings`` the non-fatal
    diagnostics. A spec that declares statistics must be fitted before it can transform.
    """

    def __init__(self, source: str, file: str, program: ir.Program,
                 diagnostics: list[Diagnostic], stats: Mapping[str, object] | None = None):
        self.source = source
        self.file = file
        self.program = program
        self.diagnostics = diagnostics
        self._stats: dict[str, object] | None = dict(stats) if stats is not None else (
            {} if not program.stats else None)
        self._lock = threading.Lock()
        self._evaluator: Callable[[dict], dict] | None = None
        self._plan: BatchPlan | None = None
        self._bound: ir.BoundProgram | None = None
        self._layout: matrix.Layout | None = None

    # ------------------------------------------------------------------ description
    @property
    def features(self) -> list[str]:
        """Output feature names, in declaration order."""
        return [f.name for f in self.program.features]

    @property
    def inputs(self) -> dict[str, str]:
        """The declared input schema: name -> type string (``"float?"``)."""
        return {n: str(t) for n, t in self.program.inputs.items()}

    @property
    def serving_inputs(self) -> dict[str, str]:
        """The inputs the features read: name -> type string, in declaration order. What the
        row evaluator and ``transform`` require and read; an input read only by statistics
        (a label) or by nothing is needed by ``fit`` alone. Decided by the spec text, never by
        fitted values, so a refit does not change it."""
        return {n: str(t) for n, t in self.serving_schema().items()}

    @property
    def fit_only_inputs(self) -> list[str]:
        """The inputs read only by statistics (a label, a column only a mean is taken of):
        ``fit`` needs them; the row evaluator and ``transform`` neither require nor read them."""
        by_stats = inputs_read(self.program, [s.expr for s in self.program.stats.values()])
        serving = self.serving_schema()
        return [n for n in by_stats if n not in serving]

    def serving_schema(self) -> dict[str, Type]:
        """:attr:`serving_inputs` with their types as :class:`~featuredsl.types.Type`."""
        return inputs_read(self.program, [ir.LetRef(f.expr.type, f.name)
                                          for f in self.program.features])

    @property
    def output_types(self) -> dict[str, str]:
        """Feature name -> type string."""
        return {f.name: str(f.expr.type) for f in self.program.features}

    @property
    def statistics(self) -> list[str]:
        """Names of the statistics the spec needs fitted (inline ones by their source text)."""
        return list(self.program.stats)

    @property
    def warnings(self) -> list[Diagnostic]:
        """The non-fatal diagnostics of the spec (lints), in source order."""
        return [d for d in self.diagnostics if d.severity == "warning"]

    @property
    def is_fitted(self) -> bool:
        """Whether the statistics are known: fitted, loaded from an artifact, or none declared."""
        return self._stats is not None

    def __repr__(self) -> str:
        return f"<featuredsl.Spec {self.file} features={self.features}>"

    def fitted_statistics(self) -> dict[str, object]:
        """The fitted values by statistic name; ``NotFittedError`` if the spec needs fitting."""
        if self._stats is None:
            raise NotFittedError(self.program.stats)
        return self._stats

    def bound(self) -> ir.BoundProgram:
        """The program with its statistics bound (see :mod:`featuredsl.bind`): what both
        backends lower. Built once."""
        if self._bound is None:
            self._bound = bind(self.program, self.fitted_statistics())
        return self._bound

    # ------------------------------------------------------------------ fitting
    def fit(self, data: object, sources: Mapping[str, object] | None = None,
            profile: bool = True) -> FittedSpec:
        """Fit every statistic on training data and freeze them (SPEC section 5).

        ``data`` is anything ``transform`` accepts. Returns a :class:`FittedSpec`; a spec
        without statistics fits too (cheaply: only the training profile is computed).
        ``profile=False`` skips the training profile (most of a fit's time): the artifact
        then holds ``"profile": {}`` and a serving monitor refuses it.
        """
        from featuredsl.fit import fit

        if not isinstance(profile, bool):
            raise InputError(f"profile= must be True or False, got {profile!r}")
        try:
            result = fit(self.program, data, sources, profile)
        except data_io.READ_ERRORS as exc:  # a Polars panic included
            raise InputError(f"cannot fit: {first_line(exc)}") from None
        return FittedSpec(self.source, self.file, self.program, self.diagnostics,
                          result.stats, result.profile, result.warnings)

    def fit_transform(self, data: object, folds: int = 5, seed: int = 0,
                      keep: Iterable[str] | str | None = None, fold_by: str | None = None,
                      sources: Mapping[str, object] | None = None
                      ) -> tuple[FittedSpec, pl.DataFrame]:
        """Fit on ``data`` and compute out-of-fold training features (docs/statistics.md).

        Returns the spec fitted on every row (for serving) and the features of ``data`` in
        which each row's *grouped* statistics (``mean(y, by=g)``) come from the other folds
        only, so a target encoding never sees its own row's label. Ungrouped statistics use
        every row. Folds are :mod:`featuredsl.fit.folds`: a stable hash of the row index with
        ``seed``, or of the ``fold_by`` input's value. The data are collected in memory.
        """
        from featuredsl.fit import folds as fold_mod

        if isinstance(folds, bool) or not isinstance(folds, int) or folds < 2:
            raise InputError(f"folds= must be an int >= 2, got {folds!r}")
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**64:
            raise InputError(f"seed= must be an int in [0, 2**64), got {seed!r}")
        full = self.fit(data, sources)
        frame = data_io.open_source(data, self.program.inputs).lf.collect()
        if fold_by is not None and fold_by not in frame.columns:
            raise InputError(f"fold_by column `{fold_by}` is not in the data", field=fold_by)
        values = None if fold_by is None else frame.get_column(fold_by).to_list()
        fold = pl.Series("__fd_fold", fold_mod.assign(frame.height, folds, seed, values),
                         dtype=pl.Int64)
        grouped = [n for n, s in self.program.stats.items() if s.expr.by]
        if not grouped:
            return full, full.transform(frame, keep=keep, sources=sources)
        parts = []
        index = pl.Series("__fd_row", range(frame.height), dtype=pl.Int64)
        for f in range(folds):
            inside = fold == f
            if not inside.any():
                continue
            rest = frame.filter(~inside)
            with warnings.catch_warnings():  # the full fit already warned about the data
                warnings.simplefilter("ignore")
                fitted = self.fit(rest, sources, profile=False) if rest.height else None
            stats = dict(full.fitted_statistics())
            for n in grouped:  # the other folds' tables; everything else from every row
                stats[n] = fitted.stats[n] if fitted is not None else ir.GroupTable((), (), ())
            spec = FittedSpec(self.source, self.file, self.program, self.diagnostics, stats)
            # window aggregates read the whole event history: folds split rows, not events
            out = spec.transform(frame.filter(inside), keep=keep, sources=sources)
            parts.append(out.with_columns(index.filter(inside)))
        out = pl.concat(parts).sort("__fd_row").drop("__fd_row")
        return full, out

    # ------------------------------------------------------------------ batch
    def batch_plan(self) -> BatchPlan:
        """The Polars lowering: temporary-column stages (for deeply nested features, usually
        none) and one expression per feature, over columns already widened by ``transform``."""
        if self._plan is None:
            bound = self.bound()
            with ir.deep_recursion():
                self._plan = PolarsLowering(bound).plan()
        return self._plan

    def feature_exprs(self) -> list[pl.Expr]:
        """One Polars expression per feature (when ``batch_plan().stages`` is empty, these are
        all you need to add featuredsl's features to a hand-written ``select``)."""
        return self.batch_plan().features

    def keep_list(self, keep: Iterable[str] | str | None) -> list[str]:
        """``keep=`` as a checked list: names, no duplicates, none equal to a feature."""
        if keep is None:
            return []
        names = [keep] if isinstance(keep, str) else list(keep)
        seen: set[str] = set()
        features = set(self.features)
        for k in names:
            if not isinstance(k, str):
                raise InputError(f"keep= takes column names, got {type(k).__name__} {k!r}")
            if k in seen:
                raise InputError(f"keep column `{k}` is listed twice", field=k)
            if k in features:
                raise InputError(f"keep column `{k}` has the same name as a feature: the output "
                                 "would hold two columns of that name", field=k)
            seen.add(k)
        return names

    def select(self, prepared: pl.LazyFrame, keep: list[str]) -> pl.LazyFrame:
        """The kept columns then the features, over inputs ``data.inputs.prepare`` validated
        and widened (the kept columns as ``prepare`` renamed them)."""
        kept = [pl.col(f"__fd_keep_{i}").alias(k) for i, k in enumerate(keep)]
        return self.batch_plan().apply(prepared, kept)

    def transform_lazy(self, data: object, keep: Iterable[str] | str | None = None,
                       sources: Mapping[str, object] | None = None) -> pl.LazyFrame:
        """The features as a LazyFrame: nothing is read or computed until you collect.

        Columns and dtypes are checked now (``InputError``). Value-level checks need the data,
        so they are left to ``transform``: collecting the result does not raise for a null in
        a non-nullable column or an unconvertible value; such a value computes as a null.

        A spec with window aggregates needs every row's history, so its windows are
        computed now, by ``transform`` (with its checks): the LazyFrame holds the result.
        """
        keep = self.keep_list(keep)
        if self.bound().windows:
            return self.transform(data, keep, sources=sources).lazy()
        if sources:
            self._no_windows(sources)
        self.feature_exprs()
        inputs = self.serving_schema()
        src = data_io.open_source(data, inputs)
        return self.select(data_io.prepare(src.lf, inputs, keep, text=src.text),
                            keep)

    def _no_windows(self, sources: Mapping[str, object]) -> None:
        raise InputError(f"sources= given ({', '.join(sources)}) but the spec has no window "
                         "aggregates to read them")

    def transform(self, data: object, keep: Iterable[str] | str | None = None,
                  sources: Mapping[str, object] | None = None) -> pl.DataFrame:
        """Compute the features of a whole dataset: kept columns, then features, in order.

        ``data`` is a polars DataFrame or LazyFrame, a pyarrow Table, a pandas DataFrame, or a
        path to a Parquet, CSV, Arrow IPC or NDJSON file (see :mod:`featuredsl.data`). Kept
        columns come out untouched; features have their declared dtypes. Inputs are validated
        and widened to the declared types first: bad data raises ``InputError`` naming the
        column, the first bad row (0-based) and the expected type. Files and LazyFrames are
        read with the streaming engine.

        Window aggregates (SPEC 13) read ``sources``: the events of each source by name,
        in any form ``data`` may take and in any order. Each row sees exactly the events of
        its key with ``time - over <= event time < time``.
        """
        keep = self.keep_list(keep)
        self.feature_exprs()
        bound = self.bound()
        events = prepare_sources(bound, sources) if bound.windows else None
        if sources and not bound.windows:
            self._no_windows(sources)
        inputs = self.serving_schema()
        src = data_io.open_source(data, inputs)
        prepared_lf = data_io.prepare(src.lf, inputs, keep, text=src.text, checks=True)
        engine: Literal["streaming", "in-memory"] = (
            "streaming" if src.path is not None or isinstance(data, pl.LazyFrame)
            else "in-memory")
        try:
            prepared = prepared_lf.collect(engine=engine)
        except data_io.READ_ERRORS as exc:
            where = f"{src.path}: " if src.path is not None else ""
            raise InputError(f"{where}cannot read the data: {first_line(exc)}") from None
        prepared = data_io.check(prepared, src.lf, inputs)
        if events is not None:
            try:
                prepared = window_batch.compute(prepared, bound, events)
            except data_io.READ_ERRORS as exc:
                raise InputError(f"cannot compute the windows: {first_line(exc)}") from None
        try:
            out = self.select(prepared.lazy(), keep).collect(engine="in-memory")
        except data_io.READ_ERRORS as exc:  # a Polars panic included: never a lost row
            raise InputError(f"cannot compute the features: {first_line(exc)}") from None
        if out.height != prepared.height:  # checked: every row read is a row out
            raise InputError(f"internal error: {prepared.height} rows read but {out.height} "
                             "computed; no output")
        return out

    # ------------------------------------------------------------------ model-ready
    def matrix_layout(self) -> matrix.Layout:
        """The columns of :meth:`to_matrix` per feature (see :mod:`featuredsl.matrix`);
        ``LayoutError`` naming a feature with no numeric form."""
        if self._layout is None:
            self._layout = matrix.layout_of(self.bound())
        return self._layout

    def feature_names_out(self) -> list[str]:
        """The column names of :meth:`to_matrix` and of ``row_evaluator(layout="vector")``: a
        scalar feature's name, a one-hot's slots as ``name[value]`` and ``name[<oov>]``."""
        return self.matrix_layout().names

    def to_matrix(self, data: object, dtype: matrix.DType = "float64",
                  sources: Mapping[str, object] | None = None) -> np.ndarray:
        """The features of ``data`` as a 2-D NumPy array (rows x :meth:`feature_names_out`):
        bools as 0/1, one column per one-hot slot, nulls as NaN; strings and temporal values
        are refused (``LayoutError``: convert them in the spec). docs/model-ready.md."""
        layout = self.matrix_layout()
        matrix.check_dtype(dtype)
        return matrix.frame_to_matrix(layout, self.transform(data, sources=sources), dtype)

    # ------------------------------------------------------------------ row
    def online_state(self, url: str | None = None, namespace: str | None = None, *,
                     restore: str | os.PathLike[str] | None = None,
                     lateness: dt.timedelta = dt.timedelta(hours=1)
                     ) -> MemoryState | RedisState:
        """Live state for the spec's window aggregates (SPEC 13): ``ingest`` events into it,
        then serve with ``row_evaluator(state=state)``. In this process without ``url``;
        ``restore`` loads a file written by ``state.save(path)`` (an ``ArtifactError`` if it
        is damaged or was saved by a spec with other sources or windows).

        With ``url="redis://host:port/db"``, the state lives on that Redis server (the
        ``featuredsl[redis]`` extra; same values, same eviction; docs/windows.md), its
        keys prefixed by ``namespace`` (default: derived from the spec's hash, so two specs
        never read each other's state). Another kind of URL or an unreachable server is an
        ``InputError``.

        Events no window can read any more are evicted: those older than the newest event
        of their source minus its longest window minus ``lateness`` (a source with a
        lifetime window keeps every event). Reads and late events up to ``lateness``
        older than the newest event are exact; a read whose window would need an evicted
        event raises ``InputError`` instead of answering wrongly."""
        if url is not None:
            if restore is not None:
                raise InputError("online_state(url, restore=...): a Redis state keeps its "
                                 "data on the server; restore= is for the in-process state")
            from featuredsl.windows.redis_state import RedisState

            return RedisState(self.bound(), url, namespace, lateness=lateness,
                              spec_text=self.source)
        if namespace is not None:
            raise InputError("online_state(namespace=...) names the keys of a Redis state: "
                             "pass its url too")
        state = MemoryState(self.bound(), lateness=lateness)
        if restore is not None:
            persist.load(state, restore)
        return state

    def row_evaluator(self, state: OnlineState | None = None, layout: str = "dict",
                      dtype: matrix.DType = "float64", *, monitor: Observer | None = None,
                      logger: Observer | None = None) -> Callable[[dict], Any]:
        """The serving function: one dict in, the feature dict out; built once, thread-safe.

        Its generated Python source is ``evaluator.source``. A spec with window aggregates
        reads them from ``state`` (``online_state()``) at the row's time.

        ``layout="vector"`` returns a 1-D NumPy array of ``dtype`` instead, in
        :meth:`feature_names_out` order: the row of :meth:`to_matrix` for this input, bit for
        bit (``vector.reshape(1, -1)`` is what ``model.predict`` takes).

        ``monitor=`` (``fd.Monitor``) and ``logger=`` (``fd.FeatureLogger``) are generated into
        a new evaluator (SPEC 10, 11); without them the evaluator holds no monitoring or logging
        code at all.
        """
        if layout == "vector":
            lay = self.matrix_layout()
            matrix.check_dtype(dtype)
            return matrix.row_vectorizer(
                lay, self.row_evaluator(state, monitor=monitor, logger=logger), dtype)
        if layout != "dict":
            raise FeatureDSLError(f'layout must be "dict" or "vector", not {layout!r}')
        bound = self.bound()
        observers = tuple(o.row_observer(self) for o in (monitor, logger) if o is not None)
        if bound.windows:
            if state is None:
                raise InputError("this spec has window aggregates: pass the live state, "
                                 "row_evaluator(state=spec.online_state())")
            # any online state: checked by its interface, not its class
            reader = getattr(state, "reader", None)
            if not callable(reader) or not hasattr(state, "program"):
                raise InputError("state= takes an online state (spec.online_state()), got "
                                 f"{type(state).__name__}")
            if state.program is not bound:
                raise InputError("this state was made by another spec: use "
                                 "this spec's online_state()")
            with ir.deep_recursion():
                return build_evaluator(bound, reader(), observers)
        if observers:
            with ir.deep_recursion():
                return build_evaluator(bound, observers=observers)
        if self._evaluator is None:
            bound = self.bound()
            with self._lock:
                if self._evaluator is None:
                    with ir.deep_recursion():
                        self._evaluator = build_evaluator(bound)
        return self._evaluator


class FittedSpec(Spec):
    """A spec plus fitted statistics, the training profile and fit warnings.

    Made by :meth:`Spec.fit` and :func:`load`: the constructor takes a :class:`Spec`'s parts
    and the fitted ``stats``, the ``profile`` and the ``fit_warnings``.
    """

    def __init__(self, source: str, file: str, program: ir.Program,
                 diagnostics: list[Diagnostic], stats: Mapping[str, object],
                 profile: Mapping[str, object] | None = None,
                 fit_warnings: list[FitWarning] | None = None) -> None:
        super().__init__(source, file, program, diagnostics, stats)
        self.profile: dict[str, object] = dict(profile or {})
        self.fit_warnings: list[FitWarning] = list(fit_warnings or [])
        self._artifact_hash: str | None = None

    @property
    def stats(self) -> dict[str, object]:
        """Fitted values by statistic name (inline aggregates by their source text)."""
        return dict(self.fitted_statistics())

    @property
    def artifact_hash(self) -> str:
        """The hex SHA-256 of this fitted spec's artifact: ``integrity.sha256`` of the file
        :meth:`save` writes (signed or not). Monitor snapshots and feature logs name it."""
        if self._artifact_hash is None:
            self._artifact_hash = artifact.artifact_digest(
                self.source, self.program,
                FitResult(self.stats, self.profile, self.fit_warnings))
        return self._artifact_hash

    def save(self, path: str | Path, sign_key: bytes | str | None = None) -> None:
        """Write the artifact: one deterministic JSON document (see ``featuredsl.artifact``).

        With ``sign_key``, also an HMAC-SHA256 signature that ``featuredsl.load(path,
        verify_key=...)`` checks (see docs/artifact.md)."""
        artifact.save(self.source, self.program,
                      FitResult(self.stats, self.profile, self.fit_warnings), path, sign_key)

    def __repr__(self) -> str:
        return f"<featuredsl.FittedSpec {self.file} features={self.features}>"


def compile(source: str, file: str = "<spec>") -> Spec:
    """Compile `.feat` source text. Raises ``SpecError`` with every diagnostic if invalid."""
    if not isinstance(source, str):
        raise FeatureDSLError(f"compile() takes the spec's text, got {type(source).__name__}")
    program, diagnostics = check_source(source, file)
    return Spec(source, file, program, diagnostics)


def compile_file(path: str | Path) -> Spec:
    """Compile a `.feat` file; diagnostics carry its path."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FeatureDSLError(f"{p}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise FeatureDSLError(f"{p}: cannot read: {exc}") from None
    return compile(text, str(p))


def load(path: str | Path, verify_key: bytes | str | None = None) -> FittedSpec:
    """Load a fitted artifact written by ``FittedSpec.save`` (raises ``ArtifactError``).

    With ``verify_key``, the artifact must carry a signature made with that key."""
    got = artifact.load(path, verify_key)
    return FittedSpec(got.source, got.file, got.program, got.diagnostics, got.fit.stats,
                      got.fit.profile, got.fit.warnings)
