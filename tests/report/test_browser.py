"""report.html opens in a real browser: headless Chromium loads a one-shot run's report, decodes
its plots (the trajectory among them) and lays out its tables. Skipped, with the reason, where
no Chromium is installed (CI installs it: ``.ci/run``)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from oneshot_toys import tiny_spaces, tiny_task

import nasforge

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
CHROMIUM = next((path for path in map(shutil.which, BROWSERS) if path), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason=f"no Chromium on PATH (looked for {', '.join(BROWSERS)})")

#: appended to a copy of the report: writes what the browser made of the page into the DOM
PROBE = """<script>window.addEventListener("load", () => {
  const out = document.createElement("pre"); out.id = "probe";
  out.textContent = [...document.images].map(i => `${i.alt}:${i.complete}:${i.naturalWidth}x${i.naturalHeight}`).join("\\n")
    + "\\ntables:" + document.querySelectorAll("table").length;
  document.body.appendChild(out);
});</script>"""


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                           f"--user-data-dir={tmp_path / 'profile'}", *args],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def oneshot_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("browser") / "darts"
    nasforge.search(tiny_task(), tiny_spaces()["nb201"], "darts", seed=0, run_dir=run, final_retrain=False,
                    strategy_settings={"epochs": 3, "batch_size": 8, "calib_batches": 1, "threads": 1})
    return run / "report.html"


def test_the_browser_decodes_the_trajectory_plot_and_lays_out_the_tables(oneshot_report, tmp_path):
    page = tmp_path / "probed.html"
    page.write_text(oneshot_report.read_text().replace("</body>", PROBE + "</body>"))
    done = chromium(tmp_path, "--virtual-time-budget=5000", "--dump-dom", page.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    probe = done.stdout.split('<pre id="probe">', 1)[1].split("</pre>", 1)[0]
    images = dict(line.split(":", 1) for line in probe.splitlines() if not line.startswith("tables:"))
    assert "Trajectory" in images, probe
    for alt, state in images.items():  # complete and decoded: a broken image has no natural size
        complete, size = state.split(":")
        width, height = map(int, size.split("x"))
        assert complete == "true" and width > 100 and height > 100, (alt, state)
    assert int(probe.rsplit("tables:", 1)[1]) >= 2  # the trajectory's epochs and the trials
    assert "<h2>Trajectory</h2>" in done.stdout and "<h2>Trials</h2>" in done.stdout


def test_the_screenshot_shows_the_page(oneshot_report, tmp_path):
    from PIL import Image

    shot = tmp_path / "report.png"
    done = chromium(tmp_path, f"--screenshot={shot}", "--window-size=1200,1600", oneshot_report.as_uri())
    assert shot.is_file(), done.stderr[-2000:]
    image = Image.open(shot).convert("L")
    assert image.size == (1200, 1600)
    dark = sum(image.histogram()[:128])  # text, table borders and plot lines; a blank page has none
    assert dark > 0.005 * image.size[0] * image.size[1]
