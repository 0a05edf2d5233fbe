"""Officers' quick reports: the one-line report parser (oneline.py) and the command line
(cli.py: `python -m bot reports list`, `python -m bot feedback set-status | show`). The chat side
is actions/reports.py (report form, `/baocaocuatoi`) and actions/feedback.py (feedback form,
tracking codes); rows: bot/storage/repositories/reports.py and feedback.py."""
