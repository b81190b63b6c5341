"""The search page in a real browser: Playwright drives Debian's headless Chromium against a uvicorn
server on loopback. Type a query, see results, remove a filter chip, see the count change, click a refinement."""
import os
import pathlib
import shutil
import socket
import threading
import time

import pytest

CHROMIUM = os.environ.get("FLATSEARCH_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
NOW = "2026-01-10T22:52:24Z"
QUERY = "software engineer jobs in Seattle posted in the last 24 hours with $400k+"

if not (pathlib.Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
    pytest.skip(f"no Chromium at {CHROMIUM}: install Debian's package (apt-get install -y chromium) to run the browser test",
                allow_module_level=True)
playwright_sync = pytest.importorskip("playwright.sync_api", reason="the browser test needs playwright (the test extra)")
uvicorn = pytest.importorskip("uvicorn", reason="the browser test needs the serve extra")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class NowEngine:
    """The session engine with the snapshot's reference time fixed, as the page sends no ``now``."""

    def __init__(self, engine):
        self.engine, self.encoder, self.index = engine, engine.encoder, engine.index

    def member_list(self):
        return self.engine.member_list()

    def search(self, query, **kwargs):
        kwargs["now"] = kwargs.get("now") or NOW
        return self.engine.search(query, **kwargs)


@pytest.fixture(scope="module")
def server(engine):
    from flatsearch.jobsearch.serve import create_app

    port = free_port()
    config = uvicorn.Config(create_app(lambda: NowEngine(engine), load_in_background=False), host="127.0.0.1", port=port,
                            log_level="warning")
    runner = uvicorn.Server(config)
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not runner.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    runner.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def page(server):
    with playwright_sync.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        page.set_default_timeout(120_000)  # a loaded CI machine answers slowly; the wait is for a state, not a time
        page.goto(server + "/")
        yield page
        browser.close()


def result_count(page) -> int:
    return int(page.get_attribute("#count", "data-count"))


def clear_status(page) -> None:
    """Blank the status line, so the next 'Answered ...' is the answer to the next action
    (two answers can print the same text, e.g. the same milliseconds)."""
    page.evaluate("document.getElementById('status').textContent = ''")


def search_done(page, previous: str | None = None):
    """Wait until the page shows an answer after the last :func:`clear_status`."""
    page.wait_for_function("() => document.getElementById('status').textContent.startsWith('Answered')")
    return page.text_content("#status")


def test_type_search_remove_a_chip_and_refine(page, engine):
    page.fill("#q", QUERY)
    clear_status(page)
    page.press("#q", "Enter")
    status = search_done(page)
    narrow = result_count(page)
    expected = engine.search(QUERY, k=10, now=NOW)
    assert narrow == len(expected.results) and narrow < 10
    assert page.locator("ol#results li").count() == narrow
    assert page.locator("#results li").first.text_content().startswith(expected.results[0].title) if narrow else True

    chips = page.locator(".chip.filter")
    phrases = [chips.nth(i).get_attribute("data-phrase") for i in range(chips.count())]
    assert phrases == [e.phrase for e in expected.plan.explanations if e.filter is not None and not e.soft]
    # A chip whose removal changes the number of jobs shown, by the same engine.
    phrase, expected_wider = next((p, len(engine.search(QUERY, k=10, now=NOW, drop=(p,)).results)) for p in phrases
                                  if len(engine.search(QUERY, k=10, now=NOW, drop=(p,)).results) != narrow)
    clear_status(page)
    page.click(f'.chip.filter[data-phrase="{phrase}"] button.remove')
    status = search_done(page, status)
    wider = result_count(page)
    assert wider == expected_wider != narrow
    assert phrase not in [page.locator(".chip.filter").nth(i).get_attribute("data-phrase")
                                   for i in range(page.locator(".chip.filter").count())]

    refine = page.locator('.hint[data-kind="refine"]').first
    label = refine.text_content()
    facet_value = label.rsplit(" (", 1)[0]  # "company: Stripe (3)" -> "company: Stripe"
    clear_status(page)
    refine.click()
    search_done(page, status)
    chip_phrases = [page.locator(".chip.filter").nth(i).get_attribute("data-phrase") for i in range(page.locator(".chip.filter").count())]
    facet, value = facet_value.split(": ", 1)
    assert f"{facet.replace(' ', '_')}: {value}" in chip_phrases
    assert 1 <= result_count(page) <= wider
    screenshot = os.environ.get("FLATSEARCH_SCREENSHOT")
    if screenshot:
        page.screenshot(path=screenshot, full_page=True)
