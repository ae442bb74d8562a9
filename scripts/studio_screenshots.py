"""The screenshots of docs/studio.md: a fresh studio (an empty runs folder) painting with the zoo.

    python scripts/studio_screenshots.py docs/images

Needs Debian's chromium and chromium-driver (scripts/setup.sh --dev). It trains one small
StyleGAN on emoji for about two minutes (the Train and Runs pages and the Paint page's invert
and edit tools need a run of the user's), so on a busy 2-core machine it takes several minutes.
Each screenshot is stored with a 256-colour palette, to keep the PNGs small.
"""

from __future__ import annotations

import shutil
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

import torch
import uvicorn
from PIL import Image
from selenium import webdriver
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from huashi.studio.server import create_app


def serve(runs: Path) -> tuple[str, uvicorn.Server]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(runs), host="127.0.0.1", port=port, log_level="warning")
    )
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", server


def browser() -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 "--window-size=1400,1000", "--hide-scrollbars"):  # fmt: skip
        options.add_argument(flag)
    service = webdriver.chrome.service.Service(executable_path=shutil.which("chromedriver"))
    return webdriver.Chrome(service=service, options=options)


def until(driver: webdriver.Chrome, condition, timeout: float = 600) -> None:
    WebDriverWait(driver, timeout, poll_frequency=0.2).until(lambda d: condition(d))


def gallery(driver: webdriver.Chrome) -> int:
    return len(driver.find_elements(By.CSS_SELECTOR, "#gallery .card"))


def fill(driver: webdriver.Chrome, values: dict[str, object]) -> None:
    for field, value in values.items():
        box = driver.find_element(By.ID, field)
        box.clear()
        box.send_keys(str(value))


def click_painter(driver: webdriver.Chrome, name: str) -> None:
    driver.find_element(By.CSS_SELECTOR, f".painter[data-painter='{name}'] button").click()


def emoji_file(folder: Path, index: int) -> Path:
    """An emoji of the dataset's test split as a PNG to upload (dream on it, invert it)."""
    from huashi.core.images import to_pil
    from huashi.data import load_dataset

    data = load_dataset("emoji", resolution=32, split="test")
    path = folder / f"emoji-{index}.png"
    to_pil(data.batch(torch.tensor([index]))["image"][0]).resize((128, 128), 0).save(path)
    return path


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    runs = Path(tempfile.mkdtemp()) / "runs"
    url, server = serve(runs)
    d = browser()

    def shot(name: str, painters: bool = True, height: int = 1000) -> None:
        """The window as ``studio-NAME.png`` (``height`` px tall; the Paint page's painter
        cards folded away when not ``painters``, so its gallery shows)."""
        d.execute_script(
            f"const p = document.getElementById('painters'); if (p) p.open = {str(painters).lower()};"
        )
        if height != 1000:  # (a shot of the usual height is taken at once: a drag's progress)
            d.set_window_size(1400, height)
            time.sleep(1)
        path = out / f"studio-{name}.png"
        d.save_screenshot(str(path))
        Image.open(path).convert("RGB").quantize(256).save(path, optimize=True)
        d.set_window_size(1400, 1000)

    def ready() -> None:
        until(d, lambda d: d.execute_script("return document.body.dataset.ready") == "1")

    try:
        d.get(url)
        ready()

        # Paint: one click on the zoo's emoji GAN, 8 images
        fill(d, {"p-n": 8, "p-seed": 11})
        click_painter(d, "zoo:emoji-gan")
        until(d, lambda d: gallery(d) == 8)
        time.sleep(1)
        shot("paint", height=1250)

        # Inpainting: a digit of the class diffusion painter (the form shows its own sampler,
        # steps and CFG), a stroke drawn over its middle
        Select(d.find_element(By.ID, "p-run")).select_by_value("zoo:mnist-class-diffusion")
        until(d, lambda d: "mnist-class-diffusion" in d.find_element(By.ID, "g-run").text)
        time.sleep(0.5)
        Select(d.find_element(By.ID, "p-label")).select_by_value("3")
        fill(d, {"p-n": 4, "p-seed": 3})
        d.find_element(By.ID, "p-go").click()
        until(d, lambda d: gallery(d) == 4)
        d.find_elements(By.CSS_SELECTOR, "#gallery [data-action=inpaint]")[0].click()
        canvas = d.find_element(By.ID, "i-draw")
        until(d, lambda d: canvas.is_displayed())
        size = canvas.size["width"]
        ActionChains(d).move_to_element_with_offset(canvas, -size // 5, -size // 6).click_and_hold(
        ).move_by_offset(size // 3, size // 4).release().perform()  # fmt: skip
        shot("inpaint", painters=False)
        d.find_element(By.ID, "i-go").click()
        until(d, lambda d: gallery(d) == 5)

        # DeepDream: the zoo's emoji CLIP network dreams an emoji of the test split (an orange)
        # toward a prompt
        uploads = Path(tempfile.mkdtemp())
        Select(d.find_element(By.ID, "p-run")).select_by_value("zoo:reference-emoji")
        until(d, lambda d: d.find_element(By.ID, "p-dream-prompt").is_displayed())
        d.find_element(By.ID, "p-input").send_keys(str(emoji_file(uploads, 17)))
        fill(d, {"p-dream-prompt": "a red heart", "p-seed": 0, "p-dream-octaves": 2,
                 "p-dream-steps": 8})  # fmt: skip
        d.find_element(By.ID, "p-go").click()
        until(d, lambda d: "dreamed on" in d.find_element(By.ID, "p-status").text)
        time.sleep(1)
        shot("dream", painters=False)

        # Train: a small StyleGAN on emoji, live losses and grids; stopped after ~2 minutes
        d.find_element(By.CSS_SELECTOR, "nav [data-tab=train]").click()
        Select(d.find_element(By.ID, "t-family")).select_by_value("stylegan")
        Select(d.find_element(By.ID, "t-data")).select_by_value("emoji")
        fill(d, {"t-name": "my-emoji-stylegan", "t-resolution": 32, "t-batch": 16,
                 "t-steps": 100000, "t-sample-every": 50, "t-log-every": 10})  # fmt: skip
        d.find_element(By.CSS_SELECTOR, "#train-form button[type=submit]").click()
        losses = d.find_element(By.ID, "j-losses")
        until(d, lambda d: int(losses.get_attribute("data-points") or 0) >= 45)
        time.sleep(2)
        shot("train")
        d.find_element(By.ID, "j-stop").click()
        until(d, lambda d: d.find_element(By.ID, "j-status").text.lower() == "stopped")

        # Runs: the run of the user's measured with huashi eval's suggested (validated) view
        d.find_element(By.CSS_SELECTOR, "nav [data-tab=runs]").click()
        until(
            d, lambda d: d.find_elements(By.CSS_SELECTOR, ".run-card[data-run=my-emoji-stylegan]")
        )
        fill(d, {"m-n": 300})
        card = d.find_element(By.CSS_SELECTOR, ".run-card[data-run=my-emoji-stylegan]")
        card.find_element(By.CSS_SELECTOR, "[data-action=eval]").click()
        until(d, lambda d: d.find_elements(By.CSS_SELECTOR, "#m-result tr[data-metric=fid]"))
        time.sleep(1)
        shot("runs", height=1250)

        # Compare: the zoo's emoji GAN beside the run of the user's, under the texture view
        d.execute_script(
            "return fetch('/api/compare', {method: 'POST', headers: {'Content-Type': "
            "'application/json'}, body: JSON.stringify({runs: ['zoo:emoji-gan', "
            "'my-emoji-stylegan'], features: 'texture:zoo:reference-emoji', n: 300, "
            "grid_n: 16})}).then((r) => r.json()).then((r) => { window.reportUrl = r.url; });"
        )
        until(d, lambda d: d.execute_script("return window.reportUrl"))
        d.get(url + d.execute_script("return window.reportUrl"))
        time.sleep(1)
        shot("compare", height=1500)
        d.get(url)
        ready()

        # Invert and edit: an emoji of the test split inverted into the user's StyleGAN (w+),
        # then moved along its first SeFa direction
        Select(d.find_element(By.ID, "p-run")).select_by_value("my-emoji-stylegan")
        until(d, lambda d: d.find_element(By.ID, "p-latent-tools").is_displayed())
        d.find_element(By.ID, "p-inv-file").send_keys(str(emoji_file(uploads, 17)))
        fill(d, {"p-inv-steps": 100})
        d.find_element(By.ID, "p-invert").click()
        until(d, lambda d: "inverted" in d.find_element(By.ID, "p-status").text)
        fill(d, {"p-edit-strengths": "-4, 0, 4"})
        d.find_element(By.ID, "p-edit").click()
        until(d, lambda d: "sefa:0 at" in d.find_element(By.ID, "p-status").text)
        time.sleep(1)
        shot("tools", painters=False, height=1100)

        # Drag: that latent on the Latents page's canvas, a handle left of the middle dragged to
        # the right; the shot is taken while it runs (its progress says how far is left)
        d.find_element(By.ID, "p-drag").click()
        points = d.find_element(By.ID, "l-points")
        until(d, lambda d: points.is_displayed())
        width = points.size["width"]
        for dx in (-width // 6, width // 6):
            ActionChains(d).move_to_element_with_offset(points, dx, 0).click().perform()
        fill(d, {"l-drag-steps": 100})
        d.find_element(By.ID, "l-drag-go").click()
        until(d, lambda d: "px to go" in d.find_element(By.ID, "l-drag-status").text)
        shot("drag")
        until(d, lambda d: "dragged in" in d.find_element(By.ID, "l-drag-status").text)
        d.find_element(By.CSS_SELECTOR, "nav [data-tab=paint]").click()

        # Data: the emoji set
        d.find_element(By.CSS_SELECTOR, "nav [data-tab=data]").click()
        Select(d.find_element(By.ID, "d-name")).select_by_value("emoji")
        d.find_element(By.CSS_SELECTOR, "#data-form button[type=submit]").click()
        until(d, lambda d: d.find_element(By.ID, "d-grid").is_displayed())
        time.sleep(1)
        shot("data")

        # Latents: a walk between two seeds of the zoo's emoji GAN
        d.find_element(By.CSS_SELECTOR, "nav [data-tab=latents]").click()
        until(d, lambda d: "zoo:emoji-gan" in [o.get_attribute("value") for o in
                                               Select(d.find_element(By.ID, "l-run")).options])  # fmt: skip
        Select(d.find_element(By.ID, "l-run")).select_by_value("zoo:emoji-gan")
        time.sleep(0.5)
        fill(d, {"l-seed-a": 4, "l-seed-b": 21, "l-steps": 8})
        d.find_element(By.ID, "l-go").click()
        until(d, lambda d: d.find_element(By.ID, "l-walk-img").is_displayed())
        d.execute_script("const s = document.getElementById('l-slider'); s.value = 3;"
                         "s.dispatchEvent(new Event('input'));")  # fmt: skip
        time.sleep(1)
        shot("latents")

        # API: the reference page, drawn offline from /openapi.json
        d.get(f"{url}/docs")
        ready()
        shot("api")
    finally:
        d.quit()
        server.should_exit = True


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/images"))
