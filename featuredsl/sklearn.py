"""A scikit-learn transformer over a featuredsl spec (docs/model-ready.md).

``FeatureTransformer(spec)`` fits the spec's statistics in ``fit`` and returns
:meth:`featuredsl.Spec.to_matrix` from ``transform``: one numeric column per
``get_feature_names_out()`` name, the layout of :mod:`featuredsl.matrix`. It is a
``TransformerMixin``, so ``set_output(transform="pandas"|"polars")`` works through
scikit-learn's own output wrapping, and it is clonable (its parameters are kept as given, the
spec as text or a path), so it goes in a ``Pipeline`` and under ``GridSearchCV``.

Needs the ``featuredsl[sklearn]`` extra.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

try:
    from sklearn.base import BaseEstimator, TransformerMixin
    from sklearn.utils.validation import check_array, check_is_fitted
except ImportError as _exc:  # pragma: no cover - exercised by a test with sklearn hidden
    raise ImportError(
        "featuredsl.sklearn needs scikit-learn: pip install 'featuredsl[sklearn]'"
    ) from _exc

from featuredsl import api, matrix
from featuredsl.errors import FeatureDSLError, InputError

if TYPE_CHECKING:
    import numpy as np
    import polars as pl

__all__ = ["FeatureTransformer", "TransformerInputError"]


class TransformerInputError(InputError, ValueError):
    """Data of the wrong shape for a fitted :class:`FeatureTransformer` (a column count other
    than at fit, a ``y`` of another length): an ``InputError`` that is also the
    ``ValueError`` scikit-learn's conventions expect."""


def _is_frame(X: object) -> bool:
    """Whether ``X`` is a table with named columns that ``Spec.transform`` reads by name."""
    module = type(X).__module__.split(".")[0]
    name = type(X).__name__
    return (module == "polars" and name in ("DataFrame", "LazyFrame")) or \
        (module == "pandas" and name == "DataFrame") or (module == "pyarrow" and name == "Table")


def _columns(X: Any) -> list[str]:
    if type(X).__module__.split(".")[0] == "pyarrow":
        return [str(c) for c in X.column_names]
    if type(X).__name__ == "LazyFrame":  # the schema only: nothing is read
        return list(X.collect_schema().names())
    return [str(c) for c in X.columns]


class FeatureTransformer(TransformerMixin, BaseEstimator):
    """The features of a `.feat` spec as a scikit-learn transformer.

    Parameters (kept as given; nothing is compiled before ``fit``):

    * ``spec``: the spec's text, or a path to a `.feat` file (a ``pathlib.Path``, or a one-line
      ``str`` ending in ``.feat``);
    * ``folds``: ``None``, or an int >= 2: ``fit_transform`` then returns out-of-fold training
      features (``Spec.fit_transform``: each row's grouped statistics from the other folds);
      ``transform`` always uses the statistics fitted on every row;
    * ``seed``, ``fold_by``: the fold assignment (``fold_by`` names an input column);
    * ``dtype``: ``"float64"`` or ``"float32"``, the output matrix's dtype;
    * ``target``: ``None`` (``y`` is ignored: a label the spec reads is a column of ``X``), or
      the name of a declared input that ``y`` fills at fit (the spec's statistics read it;
      its features must not, since ``transform`` has no ``y``).

    ``X`` is a polars DataFrame or LazyFrame, a pandas DataFrame or a pyarrow Table (columns
    read by name), or a 2-D
    array whose columns are the spec's declared inputs in declaration order (``target``
    left out when set).

    Fitted attributes: ``spec_`` (the :class:`featuredsl.FittedSpec`), ``n_features_in_``,
    ``feature_names_in_`` (when ``X`` had column names) and ``array_inputs_`` (the input each
    column of an array ``X`` is read as).
    """

    def __init__(self, spec: str | os.PathLike[str], folds: int | None = None, seed: int = 0,
                 fold_by: str | None = None, dtype: matrix.DType = "float64",
                 target: str | None = None) -> None:
        self.spec = spec
        self.folds = folds
        self.seed = seed
        self.fold_by = fold_by
        self.dtype = dtype
        self.target = target

    # ------------------------------------------------------------------ parameters
    def _compile(self) -> api.Spec:
        spec = self.spec
        if isinstance(spec, os.PathLike) or (
                isinstance(spec, str) and "\n" not in spec and spec.strip().endswith(".feat")):
            return api.compile_file(Path(spec))
        if not isinstance(spec, str):
            raise FeatureDSLError("FeatureTransformer(spec=...) takes the spec's text or a path "
                                  f"to a .feat file, got {type(spec).__name__}")
        return api.compile(spec)

    def _check_params(self, spec: api.Spec) -> None:
        matrix.check_dtype(self.dtype)
        if spec.program.sources:
            # the events are not rows of X (no split or fold applies to them): out of scope
            raise InputError(
                f"the spec reads event sources ({', '.join(spec.program.sources)}) for window "
                "aggregates; FeatureTransformer takes only X: compute the window features with "
                "Spec.transform(data, sources=...) first and pass them as columns")
        folds = self.folds
        if folds is not None and (isinstance(folds, bool) or not isinstance(folds, int)
                                  or folds < 2):
            raise InputError(f"folds= must be None or an int >= 2, got {folds!r}")
        if self.fold_by is not None:
            if folds is None:
                raise InputError("fold_by= chooses the out-of-fold folds: set folds= too")
            if self.fold_by not in spec.inputs:
                raise InputError(f"fold_by=`{self.fold_by}` is not a declared input of the "
                                 f"spec (inputs: {', '.join(spec.inputs)})", field=self.fold_by)
        target = self.target
        if target is not None:
            if target not in spec.inputs:
                raise InputError(f"target=`{target}` is not a declared input of the spec "
                                 f"(inputs: {', '.join(spec.inputs)})", field=target)
            if target in spec.serving_inputs:
                raise InputError(f"target=`{target}` is read by the features, so transform "
                                 "(which has no y) could not compute them; only statistics "
                                 "may read the target", field=target)

    # ------------------------------------------------------------------ data
    def _array_frame(self, X: object, names: list[str]) -> pl.DataFrame:
        """A 2-D array as a polars frame whose columns are ``names``, in order."""
        import numpy as np
        import polars as pl

        # a sparse DOK matrix is a dict: it gets scikit-learn's sparse message below
        if isinstance(X, str | bytes | os.PathLike | Mapping) and not hasattr(X, "tocsr"):
            hint = " (for a file, pass pl.scan_parquet(path) or pl.read_csv(path))" \
                if isinstance(X, str | os.PathLike) else ""
            raise TransformerInputError(
                "X must be a polars or pandas DataFrame, a polars LazyFrame, a pyarrow Table or "
                f"a 2-D array, got {type(X).__name__}{hint}")
        # scikit-learn's own validation: its messages for 1-D, 3-D, sparse, complex and empty
        # input; values stay as given (NaN is null, the spec's types are checked by transform)
        arr = check_array(X, dtype=None, ensure_all_finite=False, accept_sparse=False,
                          ensure_min_samples=1, ensure_min_features=1,
                          estimator=self, input_name="X")
        if arr.shape[1] != len(names):
            raise TransformerInputError(
                f"X has {arr.shape[1]} features, but FeatureTransformer is expecting "
                f"{len(names)} features as input (the spec's inputs "
                f"{', '.join(names) or '(none)'}, in declaration order)")
        cols = []
        for j, n in enumerate(names):
            col = arr[:, j]
            if col.dtype == object:  # numbers boxed as objects: let polars infer, None = null
                cols.append(pl.Series(n, col.tolist(), strict=False))
            else:
                cols.append(pl.Series(n, np.ascontiguousarray(col)))
        return pl.DataFrame(cols)

    def _frame(self, X: object, y: object, fitting: bool) -> object:
        """``X`` (and at fit ``y`` as the ``target`` column) as data ``Spec`` methods read."""
        if _is_frame(X):
            columns = _columns(X)
            if fitting:
                self.n_features_in_ = len(columns)
                import numpy as np

                self.feature_names_in_ = np.asarray(columns, dtype=object)
                self.array_inputs_ = columns
            data: object = X
        else:
            if fitting:
                spec_inputs = list(self._compiled.inputs)
                names = [n for n in spec_inputs if n != self.target]
                self.n_features_in_ = len(names)
                if hasattr(self, "feature_names_in_"):
                    del self.feature_names_in_
                self.array_inputs_ = names
            elif hasattr(self, "feature_names_in_"):
                warnings.warn("X does not have valid feature names, but FeatureTransformer was "
                              "fitted with feature names", UserWarning, stacklevel=3)
            data = self._array_frame(X, self.array_inputs_)
        if fitting and self.target is not None and y is not None:
            data = self._with_target(data, y)
        return data

    def _with_target(self, data: object, y: object) -> pl.DataFrame:
        import numpy as np
        import polars as pl

        target = self.target
        assert target is not None
        frame = data if isinstance(data, pl.DataFrame) else \
            api.data_io.open_source(data, self._compiled.program.inputs).lf.collect()
        if target in frame.columns:
            raise TransformerInputError(
                f"X has a column `{target}` and y was given for target=`{target}`: pass the "
                "label once (drop the column, or leave y out)", field=target)
        values = y.to_numpy() if hasattr(y, "to_numpy") else np.asarray(y)
        if values.ndim == 2 and values.shape[1] == 1:
            values = values[:, 0]
        if values.ndim != 1 or values.shape[0] != frame.height:
            raise TransformerInputError(
                f"y must be 1-D with one value per row of X ({frame.height}), got shape "
                f"{values.shape}", field=target)
        if values.dtype == object:
            series = pl.Series(target, values.tolist(), strict=False)
        else:
            series = pl.Series(target, values)
        return frame.with_columns(series)

    # ------------------------------------------------------------------ the estimator API
    def fit(self, X: object, y: object = None) -> FeatureTransformer:
        """Compile the spec and fit its statistics on ``X`` (with ``y`` as ``target``)."""
        self._fit(X, y)
        return self

    def _fit(self, X: object, y: object) -> object:
        spec = self._compiled = self._compile()
        self._check_params(spec)
        data = self._frame(X, y, fitting=True)
        self.spec_ = spec.fit(data)
        self.spec_.matrix_layout()  # a feature with no numeric form fails at fit, not later
        return data

    def transform(self, X: object) -> np.ndarray:
        """The features of ``X`` as a 2-D array (``get_feature_names_out()`` columns), the
        statistics fitted on every training row."""
        check_is_fitted(self, "spec_")
        return self.spec_.to_matrix(self._frame(X, None, fitting=False), dtype=self.dtype)

    def fit_transform(self, X: object, y: object = None, **fit_params: object) -> np.ndarray:
        """Fit, then the training features: out of fold when ``folds`` is set (each row's
        grouped statistics from the other folds only), else ``fit(X, y).transform(X)``."""
        if fit_params:
            raise TypeError(f"fit_transform takes no fit parameters, got {sorted(fit_params)}")
        if self.folds is None:
            data = self._fit(X, y)
            return self.spec_.to_matrix(data, dtype=self.dtype)
        spec = self._compiled = self._compile()
        self._check_params(spec)
        data = self._frame(X, y, fitting=True)
        fitted, out = spec.fit_transform(data, folds=self.folds, seed=self.seed,
                                         fold_by=self.fold_by)
        self.spec_ = fitted
        fitted.matrix_layout()
        return matrix.frame_to_matrix(fitted.matrix_layout(), out, self.dtype)

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        """The output column names: ``Spec.feature_names_out()`` (``name``, ``name[value]``,
        ``name[<oov>]``). ``input_features``, when given, must equal ``feature_names_in_``
        (the spec names its outputs itself, so they do not derive from it)."""
        import numpy as np

        check_is_fitted(self, "spec_")
        if input_features is not None:
            given = [str(c) for c in input_features]  # type: ignore[attr-defined]
            known = getattr(self, "feature_names_in_", None)
            if known is not None and given != list(known):
                raise ValueError("input_features is not equal to feature_names_in_")
            if known is None and len(given) != self.n_features_in_:
                raise ValueError(f"input_features should have length equal to number of "
                                 f"features ({self.n_features_in_}), got {len(given)}")
        return np.asarray(self.spec_.feature_names_out(), dtype=object)

    # ------------------------------------------------------------------ pickling
    def __getstate__(self) -> dict[str, Any]:
        """The parameters and, once fitted, the fitted spec as its artifact (plain JSON data,
        checked again on unpickling): the compiled evaluators are code, rebuilt on use."""
        state = dict(super().__getstate__())
        state.pop("_compiled", None)
        fitted = state.pop("spec_", None)
        if fitted is not None:
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "spec.featpack.json"
                fitted.save(path)
                state["_fitted_artifact"] = path.read_bytes()
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Restore :meth:`__getstate__`'s state (the artifact loaded with every check)."""
        state = dict(state)
        blob = state.pop("_fitted_artifact", None)
        super().__setstate__(state)
        if blob is not None:
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "spec.featpack.json"
                path.write_bytes(blob)
                self.spec_ = api.load(path)

    def __sklearn_tags__(self) -> Any:
        """NaN in is a null (the spec decides what it gives), the output dtype is the
        ``dtype`` parameter whatever the input's, ``y`` is optional."""
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.transformer_tags.preserves_dtype = []
        tags.target_tags.required = False
        return tags
