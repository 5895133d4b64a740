"""report.html is self-contained and renders in headless Chromium (a screenshot that is not blank)."""

import re

import numpy as np

from tests.integration.conftest import screenshot


def test_report_is_self_contained_with_all_sections(run_dir):
    html = (run_dir / "report.html").read_text()
    for section in (
        "Metrics",
        "Plots",
        "Thresholds (test)",
        "Slices (test)",
        "Feature importance",
        "Data quality",
        "Sampling",
        "95% intervals",
    ):
        assert section in html, section
    # nothing is fetched from elsewhere: no remote scripts, styles, fonts or images
    assert not re.search(r"""(src|href)\s*=\s*['"]?(https?:)?//""", html)
    assert "<script" not in html
    assert html.count("data:image/png;base64,") == 4
    for name in ("roc", "pr", "calibration", "confusion_matrix"):
        assert (run_dir / "plots" / f"{name}.png").stat().st_size > 1000


def test_report_renders_in_headless_chromium(run_dir, tmp_path):
    img = screenshot(run_dir / "report.html", tmp_path)
    assert img.shape[0] >= 2000 and img.shape[1] >= 1200
    non_white = (img < 0.95).any(axis=2).mean()
    # text, tables and four plots: a blank (or error) page is almost all white
    assert non_white > 0.03, non_white
    assert len(np.unique((img * 255).astype(np.uint8).reshape(-1, 3), axis=0)) > 50
