"""Objective evaluation of any instrument (``musicvae evaluate``).

Each kind measures itself (:meth:`musicvae.kinds.base.Kind.evaluate`; the metrics live in
``musicvae/kinds/<kind>/``); this module runs it and tags the report with its kind, which
is how :func:`format_report` and :func:`musicvae.plots.evaluation_figure` find the kind again.
"""

from __future__ import annotations

from musicvae.kinds import EvaluateOptions, get_kind

__all__ = ["EvaluateOptions", "evaluate_instrument", "format_report", "report_warnings"]


def evaluate_instrument(instrument, options: EvaluateOptions | None = None) -> dict:
    """The report of ``musicvae evaluate`` for ``instrument``: plain JSON values, ``kind`` first.

    Raises
    ------
    DataError
        If the recipe's dataset is not built (the message gives the command).
    """
    report = get_kind(instrument.kind).evaluate(instrument, options or EvaluateOptions())
    return {"kind": instrument.kind, **report}


def format_report(report: dict) -> str:
    """The report as text, by its kind's table."""
    return get_kind(report.get("kind")).format_report(report)


def report_warnings(report: dict) -> list[str]:
    """Lines warning of a model that trained badly, by its kind (a collapsed melody posterior...); often none."""
    return get_kind(report.get("kind")).warnings(report)
