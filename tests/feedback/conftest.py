from tests.reports.conftest import settings  # noqa: F401 - a test types faster than people
