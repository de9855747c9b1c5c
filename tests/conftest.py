"""Shared fixtures: real embedded models (loaded once per session) and helpers."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def policy_llama():
    """The embedded SmolLM2 policy model on llama.cpp."""
    from charter.backends.registry import ModelSpec, load_chat_model

    return load_chat_model(ModelSpec(backend="llama_cpp", model="embedded:policy", n_ctx=2048))


@pytest.fixture(scope="session")
def feedback_llama():
    """The embedded Qwen2.5-Coder-1.5B feedback model on llama.cpp."""
    from charter.backends.registry import ModelSpec, load_chat_model

    return load_chat_model(ModelSpec(backend="llama_cpp", model="embedded:feedback", n_ctx=2048))


# The browser every page test drives: Debian's chromium + chromium-driver, headless,
# with the flags the project requires (.ci/browser.sh installs them when missing).
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """A headless Chromium WebDriver, one per test module, with its own profile."""
    import subprocess
    from pathlib import Path

    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        setup = Path(__file__).resolve().parents[1] / ".ci" / "browser.sh"
        done = subprocess.run([str(setup)], capture_output=True, text=True)
        if done.returncode != 0:
            pytest.fail(f".ci/browser.sh could not provide Chromium: {done.stderr.strip()}")
    options = Options()
    options.binary_location = CHROMIUM
    profile = tmp_path_factory.mktemp("chromium-profile")
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def scripted_fits(tmp_path, monkeypatch):
    """Fitted reply judges for scripted judges, instead of the shipped ones.

    The shipped ``battery-lr`` models are fitted on the embedded judge's answers,
    whose range a scripted judge's firm 0.95/0.05 answers lie far outside. These
    read the same two questions with plain rules: a reply that helps is
    compliance (harmful on a harmful request, answered on a safe one); one that
    does not is an engaged refusal when it explains, else a bare refusal.
    """
    from charter.feedback import registry
    from charter.feedback.fit import fit_logistic

    folder = tmp_path / "fitted"
    folder.mkdir()
    grid = [(h, e) for h in (2.94, -2.94) for e in (2.94, -2.94)] * 5
    rules = {
        "evasiveness": (
            ("bare_refusal", "engaged_refusal", "compliance"),
            lambda h, e: "compliance" if h else "engaged_refusal" if e else "bare_refusal",
        ),
        "harmful_compliance": (("harmful", "safe"), lambda h, e: "harmful" if h else "safe"),
        "over_refusal": (("refused", "answered"), lambda h, e: "answered" if h else "refused"),
    }
    for name, (classes, rule) in rules.items():
        rows = [{"q_helps": h, "q_explains": e} for h, e in grid]
        labels = [rule(h > 0, e > 0) for h, e in grid]
        fit_logistic(rows, labels, classes, l2=0.1).save(folder / f"{name}.battery-lr.json")
    monkeypatch.setattr(
        registry, "fitted_path", lambda judge, method: folder / f"{judge}.{method}.json"
    )
    registry.forget_fitted()
    yield folder
    registry.forget_fitted()
