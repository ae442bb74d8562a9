"""The studio's page in a real browser: Debian's Chromium, headless, driven by Selenium.

`scripts/setup.sh --dev` installs chromium and chromium-driver; without them these tests skip.
"""

import io
import json
import shutil
import socket
import threading
import time
import urllib.request

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")
webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402
from test_studio_api import make_classifier, make_runs, reference_cache  # noqa: E402, F401

from huashi import api  # noqa: E402
from huashi.core.images import to_pil  # noqa: E402
from huashi.studio.server import create_app  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and DRIVER),
    reason="Debian's chromium and chromium-driver are not installed (scripts/setup.sh --dev "
    "installs them): the studio's browser tests need them.",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(tmp_path_factory, reference_cache):  # noqa: F811
    runs = make_classifier(make_runs(tmp_path_factory.mktemp("browser") / "runs"))
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(runs), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 60
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", runs
    server.should_exit = True
    thread.join(60)


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 "--window-size=1400,1000"):  # fmt: skip
        options.add_argument(flag)
    service = webdriver.chrome.service.Service(executable_path=DRIVER)
    driver = webdriver.Chrome(service=service, options=options)
    yield driver
    driver.quit()


def wait(driver, condition, timeout=120):
    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(lambda d: condition(d))


def open_page(driver, url):
    driver.get(url)
    wait(driver, lambda d: d.execute_script("return document.body.dataset.ready") == "1")


def cards(driver):
    return driver.find_elements(By.CSS_SELECTOR, "#gallery .card")


def png(url) -> np.ndarray:
    with urllib.request.urlopen(url) as response:
        return np.array(Image.open(io.BytesIO(response.read())))


def choose_run(driver, name):
    Select(driver.find_element(By.ID, "p-run")).select_by_value(name)
    wait(driver, lambda d: f"· {name}" in d.find_element(By.ID, "g-run").text)
    time.sleep(0.3)  # the form and the gallery are filled in after the run's details arrive


def paint_from_form(driver, seed, n=1):
    before = len(cards(driver))
    for field, value in (("p-seed", seed), ("p-n", n)):
        box = driver.find_element(By.ID, field)
        box.clear()
        box.send_keys(str(value))
    driver.find_element(By.ID, "p-go").click()
    wait(driver, lambda d: len(cards(d)) == before + n)
    return cards(driver)[:n]


def test_paint_shows_the_image_with_its_parameters_and_again_repeats_it(served, browser):
    url, runs = served
    open_page(browser, url)
    choose_run(browser, "gan")
    [card] = paint_from_form(browser, seed=5)
    assert "seed 5" in card.find_element(By.CLASS_NAME, "params").text
    src = card.find_element(By.TAG_NAME, "img").get_attribute("src")
    assert wait(browser, lambda d: d.execute_script(
        "return arguments[0].complete && arguments[0].naturalWidth", card.find_element(By.TAG_NAME, "img")
    )) == 16  # fmt: skip
    expected = api.sample(api.load_run(runs / "gan", device="cpu"), n=1, seed=5).images[0]
    expected = ((expected + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0)
    assert np.array_equal(png(src), expected.numpy())
    card.find_element(By.CSS_SELECTOR, "[data-action=again]").click()
    wait(browser, lambda d: len(cards(d)) == 2)
    again = cards(browser)[0].find_element(By.TAG_NAME, "img").get_attribute("src")
    assert again != src and np.array_equal(png(again), png(src))
    cards(browser)[0].find_element(By.CSS_SELECTOR, "[data-action=vary]").click()
    wait(browser, lambda d: len(cards(d)) == 3)
    assert not np.array_equal(
        png(cards(browser)[0].find_element(By.TAG_NAME, "img").get_attribute("src")), png(src)
    )
    open_page(browser, url)  # a reload shows the gallery saved under the run
    choose_run(browser, "gan")
    assert len(cards(browser)) == 3


def test_inpainting_mask_drawn_on_the_canvas(served, browser):
    url, runs = served
    open_page(browser, url)
    choose_run(browser, "diff")
    [card] = paint_from_form(browser, seed=2)
    source = png(card.find_element(By.TAG_NAME, "img").get_attribute("src"))
    card.find_element(By.CSS_SELECTOR, "[data-action=inpaint]").click()
    canvas = browser.find_element(By.ID, "i-draw")
    wait(browser, lambda d: canvas.is_displayed())
    size = canvas.size["width"]  # 384 px on screen for a 16 px image: draw across the middle
    ActionChains(browser).move_to_element_with_offset(canvas, -size // 8, 0).click_and_hold().move_by_offset(
        size // 4, 0
    ).release().perform()  # fmt: skip
    browser.find_element(By.ID, "i-go").click()
    wait(browser, lambda d: len(cards(d)) == 2 and "inpainted" in cards(d)[0].text)
    new = cards(browser)[0]
    out = png(new.find_element(By.TAG_NAME, "img").get_attribute("src")).astype(int)
    mask_id = json.loads(urllib.request.urlopen(f"{url}/api/runs/diff/gallery").read())[0][
        "parameters"
    ]["mask"]
    assert not browser.find_element(By.ID, "p-init").is_displayed()  # disarmed after use
    mask = png(f"{url}/api/uploads/{mask_id}.png")[..., 0] > 127
    assert mask.shape == (16, 16) and mask[8, 8] and not mask[0, 0] and 4 <= mask.sum() < 128
    assert np.abs(out[~mask] - source[~mask].astype(int)).max() <= 1  # kept where not drawn
    assert np.abs(out[mask] - source[mask].astype(int)).mean() > 5  # repainted where drawn
    # "use as init": img2img from a gallery image with the strength of the slider
    cards(browser)[-1].find_element(By.CSS_SELECTOR, "[data-action=init]").click()
    wait(browser, lambda d: d.find_element(By.ID, "p-init").is_displayed())
    browser.execute_script("document.getElementById('p-strength').value = '0.4'")
    browser.find_element(By.ID, "p-go").click()
    wait(browser, lambda d: len(cards(d)) == 3)
    assert "strength 0.4" in cards(browser)[0].text and "img2img" in cards(browser)[0].text


def test_a_training_job_shows_losses_and_grids_and_stops(served, browser):
    url, runs = served
    open_page(browser, url)
    browser.find_element(By.CSS_SELECTOR, "nav [data-tab=train]").click()
    form = {"t-name": "live", "t-resolution": 16, "t-batch": 4, "t-steps": 100000,
            "t-sample-every": 2, "t-log-every": 1}  # fmt: skip
    Select(browser.find_element(By.ID, "t-family")).select_by_value("dcgan")
    Select(browser.find_element(By.ID, "t-data")).select_by_value("shapes")
    for field, value in form.items():
        box = browser.find_element(By.ID, field)
        box.clear()
        box.send_keys(str(value))
    browser.find_element(By.CSS_SELECTOR, "#train-form details summary").click()
    for option in ("z_dim", "g_width", "d_width"):
        box = browser.find_element(By.CSS_SELECTOR, f"[data-option={option}]")
        box.clear()
        box.send_keys("8")
    browser.find_element(By.CSS_SELECTOR, "#train-form button[type=submit]").click()
    status = browser.find_element(By.ID, "j-status")
    wait(browser, lambda d: status.text.lower() in ("running", "failed"))
    losses = browser.find_element(By.ID, "j-losses")
    grid = browser.find_element(By.ID, "j-grid")
    wait(
        browser,
        lambda d: int(losses.get_attribute("data-points") or 0) >= 2 and grid.get_attribute("src"),
        240,
    )
    first_grid, first_points = grid.get_attribute("src"), int(losses.get_attribute("data-points"))
    wait(browser, lambda d: grid.get_attribute("src") != first_grid, 120)  # a newer grid arrived
    assert int(losses.get_attribute("data-points")) > first_points  # the loss plot grew
    assert "ETA" in browser.find_element(By.ID, "j-progress").text
    browser.find_element(By.ID, "j-stop").click()
    wait(browser, lambda d: status.text.lower() == "stopped", 120)
    assert browser.find_element(By.ID, "j-resume").is_displayed()
    assert (runs / "live" / "checkpoints").is_dir()


def test_dropping_a_png_fills_the_form_from_its_parameters(served, browser):
    url, runs = served
    open_page(browser, url)
    choose_run(browser, "gan")
    body = {"run": "diff", "seed": 41, "label": 1, "sampler": "euler", "steps": 4, "cfg": 2.5}
    request = urllib.request.Request(
        f"{url}/api/paint", json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request) as response:
        image_url = url + json.loads(response.read())["images"][0]["url"]
    browser.execute_async_script(
        """const [url, done] = arguments;
        fetch(url).then((r) => r.blob()).then((blob) => {
          const files = new DataTransfer();
          files.items.add(new File([blob], "dropped.png", {type: "image/png"}));
          window.dispatchEvent(new DragEvent("drop", {dataTransfer: files, cancelable: true}));
          done();
        });""",
        image_url,
    )
    wait(browser, lambda d: d.find_element(By.ID, "p-seed").get_attribute("value") == "41")
    value = lambda field: browser.find_element(By.ID, field).get_attribute("value")  # noqa: E731
    assert value("p-run") == "diff"  # the Model field chose the run
    assert (value("p-sampler"), value("p-steps"), value("p-cfg"), value("p-label")) == (
        "euler", "4", "2.5", "1",
    )  # fmt: skip


def test_eval_from_the_runs_page_shows_the_metric_table(served, browser):
    from huashi.metrics.registry import format_value

    url, runs = served
    open_page(browser, url)
    browser.find_element(By.CSS_SELECTOR, "nav [data-tab=runs]").click()
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#m-features option[value=cls]"))
    box = browser.find_element(By.ID, "m-n")
    box.clear()
    box.send_keys("40")
    Select(browser.find_element(By.ID, "m-features")).select_by_value("cls")
    card = browser.find_element(By.CSS_SELECTOR, ".run-card[data-run=gan]")
    card.find_element(By.CSS_SELECTOR, "[data-action=eval]").click()
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#m-result tr[data-metric=fid]"))
    shown = {
        row.get_attribute("data-metric"): row.find_element(By.CLASS_NAME, "value").text
        for row in browser.find_elements(By.CSS_SELECTOR, "#m-result tr[data-metric]")
    }
    direct = api.evaluate(runs / "gan", f"classifier:{runs / 'cls'}", n=40, device="cpu",
                          kid_subset_size=40, save=False)  # fmt: skip
    assert shown == {name: format_value(name, value) for name, value in direct.metrics.items()}
    assert "eval gan · classifier:cls" in browser.find_element(By.ID, "m-result").text
    # above the metrics: the FID as a multiple of its floor and the copy check, as huashi eval
    floor = browser.find_element(By.CSS_SELECTOR, "#m-result tr[data-row='FID vs floor']").text
    assert "× floor (n 40, classifier:cls)" in floor
    rows = [r.text for r in browser.find_elements(By.CSS_SELECTOR, "#m-result tr[data-row]")]
    expected = [f"{label} {value.replace(str(runs) + '/', '')}"
                for label, value in direct.yardsticks()]  # fmt: skip
    assert rows == expected
    # the run's card on the Runs page now shows that floor multiple, labelled with its record
    card = browser.find_element(By.CSS_SELECTOR, ".run-card[data-run=gan]")
    wait(browser, lambda d: "× floor" in card.find_element(By.CLASS_NAME, "metrics").text)


def test_latents_slider_walks_from_one_seed_to_the_other(served, browser):
    url, runs = served
    open_page(browser, url)
    browser.find_element(By.CSS_SELECTOR, "nav button[data-tab=latents]").click()
    wait(browser, lambda d: "gan" in [o.get_attribute("value") for o in
                                       Select(d.find_element(By.ID, "l-run")).options])  # fmt: skip
    names = [o.get_attribute("value") for o in Select(browser.find_element(By.ID, "l-run")).options]
    assert "gan" in names and "diff" not in names and "cls" not in names  # runs with a latent
    Select(browser.find_element(By.ID, "l-run")).select_by_value("gan")
    wait(browser, lambda d: "slerp" in d.find_element(By.ID, "l-note").text)
    for field, value in (("l-seed-a", 5), ("l-seed-b", 9), ("l-steps", 4)):
        box = browser.find_element(By.ID, field)
        box.clear()
        box.send_keys(str(value))
    browser.find_element(By.ID, "l-go").click()
    image = browser.find_element(By.ID, "l-walk-img")
    wait(browser, lambda d: image.get_attribute("src") and image.is_displayed())
    first = image.get_attribute("src")
    slider = browser.find_element(By.ID, "l-slider")
    ActionChains(browser).click_and_hold(slider).move_by_offset(200, 0).release().perform()
    wait(browser, lambda d: image.get_attribute("src") != first)
    assert browser.find_element(By.ID, "l-t").text == "t = 1.00"
    family = api.load_run(runs / "gan", device="cpu").family
    with torch.no_grad():
        ends = family.generate([5, 9])
    ends = ((ends + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
    assert np.array_equal(png(first), ends[0])  # the walk starts at seed A's image
    assert np.array_equal(png(image.get_attribute("src")), ends[1])  # and ends at seed B's


# --- the first screen on a fresh set-up: the zoo's painters --------------------------------------


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    """A studio over an empty runs folder, as `huashi studio` on a fresh set-up."""
    runs = tmp_path_factory.mktemp("fresh") / "runs"
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(runs), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 60
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", runs
    server.should_exit = True
    thread.join(60)


def test_a_fresh_studio_shows_the_zoo_and_paints_with_one_click(fresh, browser):
    url, runs = fresh
    open_page(browser, url)
    groups = {g.get_attribute("data-group"): g.text
              for g in browser.find_elements(By.CSS_SELECTOR, ".painter-group")}  # fmt: skip
    assert {"noise", "prompt", "translate", "upscale"} <= set(groups)
    assert "zoo:shapes-ldm" in groups["prompt"] and "zoo:calligraphy" in groups["translate"]
    # zoo:emoji-gan's FID as its card's floor multiple; a card without one reads labelled raw
    assert "FID 0.477 = 3.6× floor (n 564, texture:zoo:reference-emoji)" in groups["noise"]
    assert "raw FID 1.07, no floor (n 193, zoo:reference-calligraphy)" in groups["translate"]
    painter = browser.find_element(By.CSS_SELECTOR, ".painter[data-painter='zoo:emoji-gan']")
    painter.find_element(By.CSS_SELECTOR, "[data-action=paint]").click()  # the one click
    wait(browser, lambda d: len(cards(d)) == 4)
    card = cards(browser)[-1]
    seed = int(card.find_element(By.CLASS_NAME, "params").text.split("seed ")[1].split()[0])
    image = png(card.find_element(By.TAG_NAME, "img").get_attribute("src"))
    expected = api.sample("zoo:emoji-gan", n=1, seed=seed, device="cpu").images[0]
    expected = ((expected + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0)
    assert np.array_equal(image, expected.numpy())  # the zoo painter's own picture of that seed
    assert (
        not (runs / "zoo:emoji-gan").exists() and (runs / ".studio" / "zoo" / "emoji-gan").is_dir()
    )


def test_translate_an_uploaded_glyph_with_the_zoo_pix2pix(fresh, browser, tmp_path):
    from PIL import ImageDraw, ImageFont

    url, runs = fresh
    open_page(browser, url)
    painter = browser.find_element(By.CSS_SELECTOR, ".painter[data-painter='zoo:calligraphy']")
    painter.find_element(By.CSS_SELECTOR, "[data-action=translate]").click()
    wait(browser, lambda d: d.find_element(By.ID, "p-input").is_displayed())
    assert browser.find_element(By.ID, "p-go").text == "Translate"
    glyph = Image.new("L", (64, 64), 255)
    font = ImageFont.truetype("/usr/share/fonts/truetype/arphic/uming.ttc", 56)
    ImageDraw.Draw(glyph).text((4, 0), "永", font=font, fill=0)
    glyph.save(tmp_path / "glyph.png")
    browser.find_element(By.ID, "p-input").send_keys(str(tmp_path / "glyph.png"))
    browser.find_element(By.ID, "p-go").click()
    wait(browser, lambda d: len(cards(d)) == 1)
    out = png(cards(browser)[0].find_element(By.TAG_NAME, "img").get_attribute("src"))
    assert out.shape == (32, 32) and out.min() < 100 < 200 < out.max()  # ink on paper
    assert "translated glyph.png" in browser.find_element(By.ID, "p-status").text


def drop_png(driver, data: bytes, name="dropped.png"):
    """Drop a PNG (its bytes) on the page as a file dragged in from the desktop."""
    import base64

    driver.execute_async_script(
        """const [b64, name, done] = arguments;
        const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
        const files = new DataTransfer();
        files.items.add(new File([bytes], name, {type: "image/png"}));
        window.dispatchEvent(new DragEvent("drop", {dataTransfer: files, cancelable: true}));
        setTimeout(done, 50);""",
        base64.b64encode(data).decode(),
        name,
    )


def test_an_a1111_png_fills_the_form_and_resets_what_it_does_not_set(fresh, browser):
    from PIL.PngImagePlugin import PngInfo

    url, _ = fresh
    open_page(browser, url)
    choose_run(browser, "zoo:mnist-class-diffusion")
    for field, value in (("p-steps", 31), ("p-cfg", 9), ("p-seed", 5)):
        box = browser.find_element(By.ID, field)
        box.clear()
        box.send_keys(str(value))  # settings of the last image, which the next drop must clear
    info = PngInfo()
    info.add_text("parameters", "a red circle\nNegative prompt: a blue square\n"
                  "Steps: 12, Sampler: DPM++ 2M, Seed: 77, Size: 32x32, Model: shapes-ldm")  # fmt: skip
    body = io.BytesIO()
    Image.new("RGB", (32, 32)).save(body, "PNG", pnginfo=info)
    drop_png(browser, body.getvalue())
    wait(browser, lambda d: d.find_element(By.ID, "p-seed").get_attribute("value") == "77")
    value = lambda field: browser.find_element(By.ID, field).get_attribute("value")  # noqa: E731
    assert value("p-run") == "zoo:shapes-ldm"  # Model: shapes-ldm is the zoo's
    assert (value("p-prompt"), value("p-negative")) == ("a red circle", "a blue square")
    assert (value("p-steps"), value("p-sampler"), value("p-cfg")) == ("12", "dpmpp-2m", "")
    before = len(cards(browser))
    browser.find_element(By.ID, "p-go").click()
    wait(browser, lambda d: len(cards(d)) == before + 1)
    assert "not a blue square" in cards(browser)[0].text and "seed 77" in cards(browser)[0].text
    browser.find_element(By.ID, "p-cfg").send_keys("9")
    info = PngInfo()  # the same run again, without a CFG scale or a negative prompt
    info.add_text("parameters", "a star\nSteps: 8, Seed: 78, Size: 32x32, Model: shapes-ldm")
    body = io.BytesIO()
    Image.new("RGB", (32, 32)).save(body, "PNG", pnginfo=info)
    drop_png(browser, body.getvalue())
    wait(browser, lambda d: d.find_element(By.ID, "p-seed").get_attribute("value") == "78")
    assert (value("p-negative"), value("p-cfg"), value("p-sampler")) == ("", "", "")


def test_the_api_link_opens_a_reference_drawn_offline(fresh, browser):
    url, _ = fresh
    open_page(browser, url)
    assert browser.find_element(By.CLASS_NAME, "api-link").get_attribute("href") == f"{url}/docs"
    browser.get(f"{url}/docs")  # the headless browser has no network: a CDN would leave it blank
    wait(browser, lambda d: d.execute_script("return document.body.dataset.ready") == "1")
    paint = browser.find_element(By.CSS_SELECTOR, ".endpoint[data-path='/api/paint']")
    assert "PaintRequest" in paint.text and "negative_prompt" in paint.text


def test_a_queued_paint_shows_its_place_and_cancel_takes_it_back(tmp_path, browser):
    from huashi.studio.server import Limits

    real = api.paint

    def slow_paint(run, *args, progress=None, **kwargs):  # a long paint: 30 s of steps
        for step in range(3000):
            progress(step, 3000, "slow")
            time.sleep(0.01)
        return real(run, *args, progress=progress, **kwargs)

    port = free_port()
    app = create_app(tmp_path / "runs", limits=Limits(workers=1))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(api, "paint", slow_paint)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        url = f"http://127.0.0.1:{port}"
        try:
            open_page(browser, url)
            browser.execute_script(  # another page's paint holds the only worker
                "fetch('/api/paint', {method: 'POST', headers: {'Content-Type': "
                "'application/json', 'X-Huashi-Client': 'other'}, body: JSON.stringify("
                "{run: 'zoo:emoji-gan', task: 'blocker'})});"
            )
            wait(browser, lambda d: app.state.studio.tasks.get("blocker"))
            browser.find_element(By.ID, "p-go").click()
            status = browser.find_element(By.ID, "p-status")
            wait(browser, lambda d: status.text == "queued · next")
            assert "queued" in browser.find_element(By.ID, "p-bar").get_attribute("class")
            browser.find_element(By.ID, "p-cancel").click()
            wait(browser, lambda d: d.find_element(By.ID, "p-go").is_enabled())
            assert "cancelled" in browser.find_element(By.ID, "toast").text
            assert not browser.find_element(By.ID, "p-cancel").is_displayed()
            assert cards(browser) == [] and app.state.studio.tasks["blocker"].status == "running"
        finally:
            urllib.request.urlopen(urllib.request.Request(f"{url}/api/tasks/blocker/cancel",
                                                          method="POST"))  # fmt: skip
            server.should_exit = True
            thread.join(30)


@pytest.fixture(scope="module")
def latent_served(tmp_path_factory):
    """A studio over a tiny StyleGAN ``sg``, a DCGAN ``gan`` and a classifier ``cls``."""
    from test_studio_latents import make_latent_runs

    runs = make_latent_runs(tmp_path_factory.mktemp("browser-latents") / "runs")
    port = free_port()
    app = create_app(runs)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", runs
    server.should_exit = True
    thread.join(60)


def test_a_stylegan_painting_is_inverted_edited_and_dragged_from_the_paint_page(
    latent_served, browser
):
    url, runs = latent_served
    open_page(browser, url)
    choose_run(browser, "sg")
    assert browser.find_element(By.ID, "p-latent-tools").is_displayed()
    [painted] = paint_from_form(browser, seed=4)
    browser.find_element(By.ID, "p-inv-steps").clear()
    browser.find_element(By.ID, "p-inv-steps").send_keys("3")
    painted.find_element(By.CSS_SELECTOR, "[data-action=invert]").click()  # a painted image
    wait(browser, lambda d: d.find_element(By.ID, "p-latent").is_displayed())
    assert len(cards(browser)) == 2 and "PSNR" in browser.find_element(By.ID, "p-status").text
    Select(browser.find_element(By.ID, "p-edit-dir")).select_by_visible_text("sefa:1")
    strengths = browser.find_element(By.ID, "p-edit-strengths")
    strengths.clear()
    strengths.send_keys("-2, 0, 2")
    browser.find_element(By.ID, "p-edit").click()
    wait(browser, lambda d: len(cards(d)) == 3)
    grid = png(cards(browser)[0].find_element(By.TAG_NAME, "img").get_attribute("src"))
    assert grid.shape[:2] == (20, 56)  # one row of three 16 px images (2 px padding)
    assert "sefa:1 at -2, 0, 2" in browser.find_element(By.ID, "p-status").text
    browser.find_element(By.ID, "p-drag").click()  # on to the Latents tab's canvas
    wait(browser, lambda d: d.find_element(By.ID, "l-drag").is_displayed())
    assert browser.find_element(By.ID, "l-run").get_attribute("value") == "sg"
    assert "/api/images/sg/" in browser.find_element(By.ID, "l-inv-img").get_attribute("src")
    canvas = browser.find_element(By.ID, "l-points")
    for x, y in ((-100, -100), (-40, -100)):  # a handle, then its target
        ActionChains(browser).move_to_element_with_offset(canvas, x, y).click().perform()
    browser.find_element(By.ID, "l-drag-go").click()
    status = browser.find_element(By.ID, "l-drag-status")
    wait(browser, lambda d: "dragged in" in status.text)


def test_deepdream_on_an_upload_with_a_classifier_from_the_paint_page(
    latent_served, browser, tmp_path
):
    url, runs = latent_served
    open_page(browser, url)
    choose_run(browser, "cls")  # a feature network: listed for DeepDream
    assert browser.find_element(By.ID, "p-go").text == "Dream"
    assert browser.find_element(By.ID, "p-dream-label").is_displayed()
    assert not browser.find_element(By.ID, "p-dream-prompt").is_displayed()
    Image.fromarray(np.full((16, 16, 3), 128, np.uint8)).save(tmp_path / "grey.png")
    browser.find_element(By.ID, "p-input").send_keys(str(tmp_path / "grey.png"))
    for field, value in (("p-dream-octaves", 2), ("p-dream-steps", 3), ("p-seed", 0)):
        box = browser.find_element(By.ID, field)
        box.clear()
        box.send_keys(str(value))
    label = Select(browser.find_element(By.ID, "p-dream-label"))
    label.select_by_index(1)
    browser.find_element(By.ID, "p-go").click()
    wait(browser, lambda d: len(cards(d)) == 1)
    assert "dreamed on grey.png" in browser.find_element(By.ID, "p-status").text
    got = png(cards(browser)[0].find_element(By.TAG_NAME, "img").get_attribute("src"))
    uploads = sorted((runs / ".studio" / "uploads").glob("*.png"), key=lambda p: p.stat().st_mtime)
    settings = api.DreamSettings(objective="class", class_index=1, octaves=2, steps=3)
    want = api.dream(api.load_dream_net(runs / "cls"), uploads[-1], settings).image
    assert np.array_equal(got, np.asarray(to_pil(want)))  # the library's dream of that upload


def test_the_form_shows_the_values_of_the_runs_defaults(served, browser):
    """Sampler, steps and CFG left open read as the run's own values, and a paint with them
    open is painted (and described) with exactly those values. (Last: it adds to the gallery
    of ``diff``, whose cards other tests count.)"""
    url, runs = served
    open_page(browser, url)
    choose_run(browser, "diff")
    defaults = api.load_run(runs / "diff", device="cpu").family.sampling_defaults({})
    sampler = Select(browser.find_element(By.ID, "p-sampler")).first_selected_option.text
    placeholder = {f: browser.find_element(By.ID, f).get_attribute("placeholder")
                   for f in ("p-steps", "p-cfg")}  # fmt: skip
    assert sampler == f"{defaults['sampler']} (run's default)"
    assert placeholder == {"p-steps": f"{defaults['steps']} (run's default)",
                           "p-cfg": f"{defaults['cfg']:g} (run's default)"}  # fmt: skip
    assert "run's" not in browser.find_element(By.ID, "p-steps").get_attribute("value")
    [card] = paint_from_form(browser, seed=3)
    shown = card.find_element(By.CLASS_NAME, "params").text
    assert f"sampler {defaults['sampler']}" in shown and f"steps {defaults['steps']}" in shown
    choose_run(browser, "gan")  # a run without sampler options shows none
    assert not browser.find_element(By.ID, "p-steps").is_displayed()
