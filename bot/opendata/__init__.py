"""Open data: the programme's indicator totals, public at /open-data/ (web.py), aggregated per
commune and period with small cells suppressed (aggregate.py)."""
