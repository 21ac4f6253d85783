"""Shared pytest configuration for alwidget's tests."""


def pytest_configure(config):
    # Registered here until pyproject.toml lists it under [tool.pytest.ini_options] markers.
    config.addinivalue_line("markers", "browser: end-to-end tests in a real browser (Chromium + Playwright)")
