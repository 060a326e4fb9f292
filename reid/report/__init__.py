"""The self-contained HTML report of a multi-camera run (``report.html``)."""
