"""What the quality app adds to the dashboard: trainings expired or needing retraining, instruments overdue or
failed, material lots waiting for QA or expired."""

from __future__ import annotations

from quality import queries, trends


def dashboard_context(request) -> dict:
    matrix = queries.matrix_summary() if request.user.has_perm("quality.view_training") else {}
    return {
        "matrix": matrix,
        "equipment": queries.equipment_attention_counts(),
        "materials": queries.material_attention_counts(),
        "excursions": queries.recent_excursions(),
        "drifting": trends.drifting_lines() if request.user.has_perm("qc.view_qcresult") else [],
    }


def line_trends(request, line) -> dict | None:
    """The line page's control charts (one per numeric QC test with enough lots); hidden when there are none."""
    charts = trends.line_charts(line)
    return {"charts": charts, "min_points": trends.MIN_POINTS} if charts else None
