"""Fitting (SPEC section 5): statistics and the training profile, computed on training data.

``fitting`` drives the passes (the statistics level by level, then the profile), ``passes``
runs the lazy queries of every task of a pass together, ``exact`` holds the exact,
order-independent arithmetic, ``select`` the moments and order statistics by radix selection,
``top`` the top values and vocabularies, ``profile`` the training profile of every input and
feature. Fit knows nothing of ``Spec``: it takes a checked program and data and returns a
:class:`~featuredsl.fit.fitting.FitResult` of plain values.
"""

from featuredsl.fit.fitting import FitResult, FitTimeWarning, FitWarning, fit

__all__ = ["FitResult", "FitTimeWarning", "FitWarning", "fit"]
