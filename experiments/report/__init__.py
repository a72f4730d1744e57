"""Figure reports of a reproduce sweep: collect runs, tables, verdicts, figures, report.html."""
from .build import build_report, publish
from .collect import Runs, collect
from .tables import summary_table
from .verdicts import Verdict, verdicts

__all__ = ["build_report", "publish", "collect", "Runs", "summary_table", "verdicts", "Verdict"]
