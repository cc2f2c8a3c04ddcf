"""`panet serve`: the real server on a loopback port, called through its API with
gradio_client and driven in headless Chromium with Selenium."""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from panet.cli import main
from panet.io import load_image, save_image
from panet.web import ServeSettings, restore_upload, suggest_level

ENV = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "OMP_NUM_THREADS": "1"}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    folder = tmp_path_factory.mktemp("serve")
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:40, 0:56] / 56
    clean = np.stack([np.sin(5 * xx), yy, xx * yy], 2) * 0.4 + 0.3
    save_image(folder / "clean.png", clean)
    save_image(folder / "noisy.png", np.clip(clean + rng.normal(0, 0.1, clean.shape), 0, 1))
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    return folder


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    port = _free_port()
    process = subprocess.Popen([sys.executable, "-m", "panet.cli", "serve", "--port", str(port),
                                "--concurrency", "2"], env=ENV, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url + "gradio_api/info", timeout=2)
            break
        except OSError:
            if process.poll() is not None:
                pytest.fail(process.stdout.read().decode()[-2000:])
            time.sleep(0.5)
    else:
        process.kill()
        pytest.fail("panet serve did not answer within 120 s")
    yield url
    process.terminate()
    process.wait(timeout=30)


def _cli_restore(source, out, *options):
    """``panet restore`` in this process, with the server's one thread (under bfloat16,
    ``--precision auto`` on CPUs that have it, the pixels depend on the thread count)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(int(ENV["OMP_NUM_THREADS"]))
    try:
        assert main(["restore", str(source), "-o", str(out), "--task", "denoise", "--quiet",
                     *options]) == 0
    finally:
        torch.set_num_threads(before)
    return load_image(out).pixels


def test_the_api_gives_the_pixels_of_panet_restore(server, photo, tmp_path):
    from gradio_client import Client, handle_file

    client = Client(server, verbose=False)
    result = client.predict(handle_file(str(photo / "noisy.png")), "denoise", "25",
                            api_name="/restore")
    assert result.endswith(".png")
    want = _cli_restore(photo / "noisy.png", tmp_path / "cli.png", "--sigma", "25")
    assert np.array_equal(load_image(result).pixels, want)


def test_a_bad_upload_is_refused_and_the_server_keeps_serving(server, photo):
    from gradio_client import Client, handle_file

    client = Client(server, verbose=False)
    with pytest.raises(Exception, match="not a readable image"):
        client.predict(handle_file(str(photo / "broken.png")), "denoise", "25",
                       api_name="/restore")
    with pytest.raises(Exception, match="sigma: 'loud' is not a number"):
        client.predict(handle_file(str(photo / "noisy.png")), "denoise", "loud",
                       api_name="/restore")
    assert client.predict(handle_file(str(photo / "noisy.png")), "denoise", "",
                          api_name="/restore").endswith(".png")


def test_three_concurrent_calls_are_all_served(server, photo):
    from gradio_client import Client, handle_file

    def call(task_level):
        client = Client(server, verbose=False)
        return load_image(client.predict(handle_file(str(photo / "noisy.png")), *task_level,
                                         api_name="/restore")).pixels

    with ThreadPoolExecutor(3) as pool:
        outputs = list(pool.map(call, [("denoise", "25"), ("denoise", "25"), ("sr", "2")]))
    assert np.array_equal(outputs[0], outputs[1])
    assert outputs[2].shape == (80, 112, 3)


def test_library_refusals_and_level_suggestions(photo, tmp_path):
    with pytest.raises(ValueError, match="more than the 0.0001 MP"):
        restore_upload(str(photo / "noisy.png"), "denoise", "25",
                       settings=ServeSettings(max_pixels=100))
    with pytest.raises(ValueError, match="scale 5: the shipped models are x2, x3, x4"):
        restore_upload(str(photo / "noisy.png"), "sr", "5")
    with pytest.raises(ValueError, match="not a shipped jpeg model"):
        restore_upload(str(photo / "noisy.png"), "jpeg", "20", model="sr-x2")
    level, note = suggest_level(str(photo / "noisy.png"), "denoise")
    assert abs(float(level) - 25.5) < 6 and "estimated" in note     # noise of 0.1 = 25.5
    save_image(tmp_path / "q30.jpg", load_image(photo / "clean.png").pixels, quality=30)
    assert suggest_level(str(tmp_path / "q30.jpg"), "jpeg")[0] == "30"


def _browser():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not (chromium and driver):
        pytest.skip("Debian's chromium and chromium-driver are not installed (.ci/run "
                    "installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                 "--window-size=1400,1000"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(driver), options=options)


def test_the_page_uploads_restores_and_offers_the_result(server, photo, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ready
    from selenium.webdriver.support.ui import WebDriverWait

    browser = _browser()
    try:
        browser.get(server)
        wait = WebDriverWait(browser, 120)
        upload = wait.until(ready.presence_of_element_located(
            (By.CSS_SELECTOR, "#upload input[type=file]")))
        upload.send_keys(str(photo / "noisy.png"))
        wait.until(lambda b: b.find_element(By.CSS_SELECTOR, "#level textarea, #level input")
                   .get_attribute("value"))           # the level read from the upload
        level = browser.find_element(By.CSS_SELECTOR, "#level textarea, #level input")
        assert 18 < float(level.get_attribute("value")) < 33
        browser.find_element(By.CSS_SELECTOR, "#restore").click()
        link = wait.until(ready.presence_of_element_located(
            (By.CSS_SELECTOR, "#result a[href]")))
        assert "noisy_panet.png" in link.text or "noisy_panet.png" in link.get_attribute("href")
        wait.until(ready.presence_of_element_located((By.CSS_SELECTOR, "#slider img")))
        with urllib.request.urlopen(link.get_attribute("href")) as response:
            (tmp_path / "downloaded.png").write_bytes(response.read())
        want = _cli_restore(photo / "noisy.png", tmp_path / "cli.png", "--sigma",
                            level.get_attribute("value"))
        assert np.array_equal(load_image(tmp_path / "downloaded.png").pixels, want)
        browser.save_screenshot(str(tmp_path / "page.png"))
        assert os.path.getsize(tmp_path / "page.png") > 10_000
        if os.environ.get("PANET_SCREENSHOT"):     # refresh docs/images/serve.png
            shutil.copy(tmp_path / "page.png", os.environ["PANET_SCREENSHOT"])
    finally:
        browser.quit()
