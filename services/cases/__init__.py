"""Service cases (issue 22, M5.3): opening, answering, handling, the SLA clock, figures.

- `policy`: the SLA hours by kind, the warning share, the reopening period (parameters).
- `access`: who may see which cases (the one scoping point), the text bounds.
- `cases`: a member opens, answers, reopens and rates; staff answer (`answer`).
- `handling`: staff assign, escalate and close.
- `sla`: the job that warns before a breach and marks breaches, once each.
- `attachments`: the files of a case (the upload pipeline of services/kit/uploads.py).
- `figures`: the complaints' figures of the staff dashboard.
"""
