"""Screenshot one page of the built documentation site with Debian's headless Chromium.

    mkdocs build --strict --site-dir /tmp/site
    python scripts/docs_screenshot.py /tmp/site getting-started/ docs/images/getting-started.png

The site is served on 127.0.0.1 (a free port) for the time of the shot, so its scripts and
styles load as they would for a reader. Needs selenium (the test extra) and the Debian
packages chromium and chromium-driver.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import shutil
import sys
import threading


def screenshot(site: str, page: str, output: str, width: int = 1280, height: int = 1100) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    handler = type("QuietHandler", (http.server.SimpleHTTPRequestHandler,),
                   {"log_message": lambda *args: None})
    handler = functools.partial(handler, directory=site)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or shutil.which("chromium-browser")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                 f"--window-size={width},{height}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    try:
        driver.get(f"http://127.0.0.1:{server.server_address[1]}/{page}")
        driver.save_screenshot(output)
    finally:
        driver.quit()
        server.shutdown()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("site", help="the built site (mkdocs build --site-dir)")
    parser.add_argument("page", help="the page's path in the site, e.g. getting-started/")
    parser.add_argument("output", help="the PNG to write")
    args = parser.parse_args()
    if not (shutil.which("chromium") or shutil.which("chromium-browser")) \
            or not shutil.which("chromedriver"):
        print("needs Debian's chromium and chromium-driver", file=sys.stderr)
        return 2
    screenshot(args.site, args.page, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
