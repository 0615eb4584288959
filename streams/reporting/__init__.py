"""The monthly SLA report: reading output records, the period's figures, the HTML page."""
