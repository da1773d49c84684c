"""Open the product notebooks in a real JupyterLab with headless Chromium; check and screenshot.

For each notebook: is it marked modified when it opens, do its widgets render (not their
`VBox(children=…)` text) and do its plotly figures draw; then, after every output has been
drawn, what JupyterLab changed (the notebook is saved in the scratch copy and compared with
the original). Screenshots of the top and of every widget and figure go to `--out`.

    .venv/bin/python scripts/screenshot_notebooks.py                 # stored notebooks/*.ipynb
    .venv/bin/python scripts/screenshot_notebooks.py --build 02_research 06_dashboard
                                                      # built from source and run in a scratch dir
    .venv/bin/python scripts/screenshot_notebooks.py --untrusted     # as on a clone never trusted

Everything happens on copies in a scratch folder with a Jupyter data dir of its own (a fresh
signature database, as on a fresh clone; the copies are trusted as `make install` trusts the
stored notebooks), JupyterLab on 127.0.0.1 with a token, and a new empty browser profile.
Needs Debian's `chromium` (apt-get install chromium) and `pip install playwright` (no
`playwright install`: the system browser is used). Exit 1 when a notebook is modified on
open, a widget does not render or a figure does not draw.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# JupyterLab settings for the check: draw every cell (no windowing, so every output renders
# and can be counted) and no news or update pop-ups over the screenshots
SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
PLOTLY_MIME = "application/vnd.plotly.v1+json"
TAB_DIRTY = ".lm-TabBar-tab.jp-mod-current.jp-mod-dirty"
# the cells' own outputs (an Output widget holds output areas of its own): which show a drawn
# widget, a widget as text (no state, untrusted) or an error, and where figures are drawn
_COUNT = """() => {
  const outs = document.querySelectorAll(
    '.jp-Notebook .jp-Cell-outputArea > .jp-OutputArea-child > .jp-OutputArea-output');
  let widgets = 0, widget_text = 0, figures = 0, figures_in_widgets = 0;
  for (const out of outs) {
    const text = out.innerText || '';
    if (out.querySelector('.jupyter-widgets') && !text.includes('Error displaying widget')) {
      widgets += 1;
      figures_in_widgets += out.querySelectorAll('.js-plotly-plot').length;
    } else if (/^(VBox|HBox|Output|Dropdown)\\(|Error displaying widget|Loading widget/
               .test(text)) {
      widget_text += 1;
    } else if (out.classList.contains('jp-RenderedPlotly') && (
               out.classList.contains('js-plotly-plot') || out.querySelector('.js-plotly-plot'))) {
      figures += 1;
    }
  }
  return {widgets, widget_text, figures, figures_in_widgets};
}"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def expected(nb: dict) -> dict[str, int]:
    """How many widget views and plotly figures drawn outside widgets the outputs hold."""
    counts = {"widgets": 0, "figures": 0}
    for cell in nb["cells"]:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            counts["widgets"] += WIDGET_MIME in data
            counts["figures"] += PLOTLY_MIME in data and WIDGET_MIME not in data
    return counts


def changes(before: dict, after: dict) -> list[str]:
    """What JupyterLab changed in a notebook, in words (float 1.0 vs 1 is not a change)."""
    found = []
    if before["metadata"] != after["metadata"]:
        keys = sorted(
            k
            for k in set(before["metadata"]) | set(after["metadata"])
            if before["metadata"].get(k) != after["metadata"].get(k)
        )
        found.append(f"metadata {', '.join(keys)}")
    for i, (a, b) in enumerate(zip(before["cells"], after["cells"], strict=False)):
        for j, (oa, ob) in enumerate(zip(a.get("outputs", []), b.get("outputs", []), strict=False)):
            added = set(ob.get("data", {})) - set(oa.get("data", {}))
            if added == {"image/png"} and PLOTLY_MIME in oa.get("data", {}):
                found.append(f"cell {i} output {j}: plotly PNG snapshot added")
            elif oa != ob:
                found.append(f"cell {i} output {j}: {sorted(added) or 'changed'}")
        if {k: v for k, v in a.items() if k != "outputs"} != {
            k: v for k, v in b.items() if k != "outputs"
        }:
            found.append(f"cell {i}: source/metadata changed")
    if len(before["cells"]) != len(after["cells"]):
        found.append("cells added or removed")
    return found


def start_lab(root: Path, env: dict[str, str], token: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    cmd = [
        str(Path(sys.executable).with_name("jupyter")),
        "lab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
    ]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    log = open(root.parent / "jupyterlab.log", "w")  # noqa: SIM115 - lives as long as the server
    lab = subprocess.Popen(
        cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(240):
        if lab.poll() is not None:
            sys.exit(f"jupyter lab exited ({lab.returncode}); see {root.parent / 'jupyterlab.log'}")
        try:
            urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=1)
            return lab, url
        except OSError:
            time.sleep(0.5)
    sys.exit("jupyter lab did not start in 120 s")


def settle(page, timeout: float = 90.0) -> None:
    """Wait until no widget is still loading and the rendered widgets and figures stop
    changing in number (the widget manager restores saved state once the kernel is up)."""
    last, stable, deadline = None, 0, time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = (
            page.locator(".js-plotly-plot").count(),
            page.locator(".jp-OutputArea-output .jupyter-widgets").count(),
            page.get_by_text("Loading widget").count(),
        )
        if now[2]:
            stable, last = 0, now
            time.sleep(0.5)
            continue
        stable = stable + 1 if now == last else 0
        if stable >= 4:
            return
        last = now
        time.sleep(0.5)


def check(context, url: str, token: str, path: Path, out: Path) -> dict:
    name = path.stem
    original = json.loads(path.read_text())
    want = expected(original)
    page = context.new_page()
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.goto(f"{url}/lab/workspaces/{name}/tree/{path.name}?reset&token={token}")
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator, .jp-KernelStatus", timeout=60_000)
    time.sleep(3)
    settle(page)
    seen = page.evaluate(_COUNT)
    report = {
        "notebook": path.name,
        "modified_on_open": page.locator(TAB_DIRTY).count() > 0,
        "widgets_expected": want["widgets"],
        "widgets_rendered": seen["widgets"],
        "widget_text_fallbacks": seen["widget_text"],
        "figures_expected": want["figures"],
        "figures_rendered": seen["figures"],
        "figures_in_widgets": seen["figures_in_widgets"],
        "screenshots": [],
    }
    shot = out / f"{name}.png"
    page.screenshot(path=str(shot))
    report["screenshots"].append(str(shot))
    items = page.locator(
        ".jp-Cell-outputArea > .jp-OutputArea-child > .jp-OutputArea-output"
        ":is(.jp-RenderedPlotly, :has(.jupyter-widgets))"
    )
    for i in range(items.count()):
        items.nth(i).scroll_into_view_if_needed()
        time.sleep(1.0)
        shot = out / f"{name}-{i + 1:02d}.png"
        page.screenshot(path=str(shot))
        report["screenshots"].append(str(shot))
    settle(page)
    report["modified_after_viewing"] = page.locator(TAB_DIRTY).count() > 0
    page.locator(".jp-Notebook:visible").first.click()
    page.keyboard.press("Control+s")
    time.sleep(3)
    report["changes_on_save"] = changes(original, json.loads(path.read_text()))
    page.close()
    return report


def verdict(r: dict) -> list[str]:
    """What is wrong with a notebook in JupyterLab. jupyterlab-plotly's PNG snapshot (its
    renderer writes an image/png of each figure it draws into that output, which marks the
    notebook modified) is reported apart: nothing in the notebook can prevent it."""
    problems = []
    snapshot_only = all("plotly PNG snapshot" in c for c in r["changes_on_save"])
    if r["modified_on_open"] and not (r["changes_on_save"] and snapshot_only):
        problems.append("modified on open")
    if r["widget_text_fallbacks"] or r["widgets_rendered"] < r["widgets_expected"]:
        problems.append(
            f"widgets: {r['widgets_rendered']}/{r['widgets_expected']} rendered, "
            f"{r['widget_text_fallbacks']} shown as text"
        )
    if r["figures_rendered"] < r["figures_expected"]:
        problems.append(f"figures: {r['figures_rendered']}/{r['figures_expected']} drawn")
    other = [c for c in r["changes_on_save"] if "plotly PNG snapshot" not in c]
    if other:
        problems.append(f"changed by JupyterLab: {'; '.join(other)}")
    return problems


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", help="stored notebooks (default: all)")
    parser.add_argument("--build", nargs="*", metavar="NAME", help="build from source first")
    parser.add_argument("--out", default=str(ROOT / "runs" / "screenshots"))
    parser.add_argument("--untrusted", action="store_true", help="do not trust the copies")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="nzeza-screens-"))
    root = scratch / "notebooks"
    root.mkdir()
    env = dict(os.environ)
    for var, sub in (
        ("JUPYTER_DATA_DIR", "data"),
        ("JUPYTER_RUNTIME_DIR", "runtime"),
        ("JUPYTERLAB_SETTINGS_DIR", "settings"),
        ("JUPYTERLAB_WORKSPACES_DIR", "workspaces"),
    ):
        env[var] = str(scratch / sub)
    for rel, value in SETTINGS.items():
        target = scratch / "settings" / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(value))
    if args.build is not None:
        names = args.build or None
        builder = str(ROOT / "scripts" / "build_notebooks.py")
        cmd = [sys.executable, "-c", _BUILD, builder, str(root), *(names or [])]
        subprocess.run(cmd, check=True, env=env)  # signs with the scratch notary
        paths = sorted(root.glob("*.ipynb"))
    else:
        sources = [Path(p) for p in args.notebooks] or sorted((ROOT / "notebooks").glob("*.ipynb"))
        paths = [Path(shutil.copy(p, root / Path(p).name)) for p in sources]
        if not args.untrusted:  # what `make install` does for the stored notebooks
            jupyter = str(Path(sys.executable).with_name("jupyter"))
            subprocess.run([jupyter, "trust", *map(str, paths)], check=True, env=env)
    token = os.urandom(16).hex()
    lab, url = start_lab(root, env, token)
    reports = []
    try:
        with sync_playwright() as pw:
            context = pw.chromium.launch_persistent_context(
                str(scratch / "chromium-profile"),
                executable_path=CHROMIUM,
                args=FLAGS,
                headless=True,
            )
            for path in paths:
                reports.append(check(context, url, token, path, out))
            context.close()
    finally:
        os.killpg(lab.pid, 15)
        lab.wait(timeout=30)
    failed = 0
    for r in reports:
        problems = verdict(r)
        failed += bool(problems)
        snapshots = sum("plotly PNG snapshot" in c for c in r["changes_on_save"])
        print(
            f"{'FAIL' if problems else 'ok  '} {r['notebook']}: modified on open "
            f"{r['modified_on_open']}, after viewing {r['modified_after_viewing']}"
            f"{f' ({snapshots} plotly PNG snapshots)' if snapshots else ''}; widgets "
            f"{r['widgets_rendered']}/{r['widgets_expected']}, figures "
            f"{r['figures_rendered']}/{r['figures_expected']} (+{r['figures_in_widgets']} in "
            f"widgets); {len(r['screenshots'])} screenshots"
        )
        for p in problems:
            print(f"     {p}")
    (out / "report.json").write_text(json.dumps(reports, indent=2))
    print(f"screenshots and report.json in {out}; scratch copy in {scratch}")
    return 1 if failed else 0


# run in a subprocess so the notary and kernels see the scratch Jupyter dirs
_BUILD = """
import importlib.util, sys
from pathlib import Path
spec = importlib.util.spec_from_file_location("build_notebooks", sys.argv[1])
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
for name in sys.argv[3:] or sorted(mod.NOTEBOOKS):
    print("built", mod.build(name, Path(sys.argv[2])), flush=True)
"""


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
