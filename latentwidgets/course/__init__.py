"""The latent-space course's grader: scores directions and edits against the sprites ground truth.

Exercises in ``notebooks/course/`` end with a call to :func:`grade` (one direction as a control of
one factor) or :func:`grade_edit` (a set of edits against goals such as "make the object red and move
it left"). Both return a :class:`~latentwidgets.course.report.Grade`: ``.passed``, ``.scores``, a
one-line verdict (``str(g)``), and a table of checks with their thresholds plus a strip of images
when displayed. Only the sprites models have a ground truth; others are refused::

    from latentwidgets.course import grade, grade_edit
    g = grade(d, "x", "x")                                   # a Directions record, a direction, a factor
    g = grade_edit(model, [Edit(d, "x", -2.0)], {"x": "left"})
    assert g.passed, g

This package sits on top of everything (widgets included); nothing in latentwidgets imports it.
"""

from __future__ import annotations

from .direction import DirectionGrade, grade
from .goals import EditGrade, grade_edit
from .report import Check, Grade
from .truth import FACTORS, SPREAD, UNITS

__all__ = ["grade", "grade_edit", "Grade", "DirectionGrade", "EditGrade", "Check", "FACTORS", "SPREAD", "UNITS"]
