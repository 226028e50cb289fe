"""Headless Chromium (Debian's `chromium` and `chromium-driver`) driven by Selenium, and a server for it."""
import os
import pathlib

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from addonmock import AddonMockServer

REPO = pathlib.Path(__file__).resolve().parents[2]
# Screenshots are test artifacts, kept beside the build, never committed.
ARTIFACTS = pathlib.Path(os.environ.get("ADDONMOCK_ARTIFACTS", REPO / ".build" / "ui-screenshots"))


@pytest.fixture
def server():
    s = AddonMockServer(profile="manual").start()
    yield s
    assert s.stop() == 0, s.output


@pytest.fixture
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1280,800"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")), options=options)
    driver.set_window_size(1280, 800)
    yield driver
    driver.quit()


@pytest.fixture
def artifacts():
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
