"""Every kiosk screen in one browser walk: a 1280×800 screenshot of each for humans, the axe-core
check, no request to another host, and the same screen on a 1920×1080 display."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, Route

from tests.e2e.conftest import VIEWPORT
from tests.e2e.kiosk_screens import SCREENS, walk_kiosk
from tests.e2e.test_accessibility import axe_findings, refresh_findings
from tests.e2e.test_touch_layout import TARGETS

pytestmark = pytest.mark.e2e

WIDE = {"width": 1920, "height": 1080}
MIN_TARGET_PX = 48  # issue 9: targets ≥ 48 px on the big screen


def layout_findings(page: Page) -> list[str]:
    """Horizontal scrolling, and visible tiles, buttons and keys under MIN_TARGET_PX tall."""
    # One round trip for the whole page: a locator per target costs seconds on the keypad pages.
    return page.evaluate("""([selector, min]) => {
        const found = [], root = document.documentElement;
        if (root.scrollWidth > root.clientWidth) {
            found.push(`scrolls horizontally: ${root.scrollWidth} px of content in ${root.clientWidth} px`);
        }
        for (const el of document.querySelectorAll(selector)) {
            const box = el.getBoundingClientRect();
            if (el.checkVisibility() && box.width > 0 && box.height < min) {
                found.push(`${Math.round(box.height)} px tall: ${el.outerHTML.slice(0, 100)}`);
            }
        }
        return found;
    }""", [TARGETS, MIN_TARGET_PX])


MIN_TEXT_PX = 18  # issue 9: text ≥ 18 px
MIN_GAP_PX = 8  # issue 9: ≥ 8 px between touch targets
NO_WAY_BACK = {"login", "start", "home", "car-prompt"}  # home and its prompt: where a guard goes back *to*
# The gates panel shows one card per barrier, each with its own "Open"; the printed violation
# notice is paper (A5), not a touch screen.
MANY_PRIMARY = {"gates"}
PAPER = {"violation-notice"}


def touch_findings(page: Page, name: str) -> list[str]:
    """Text under MIN_TEXT_PX, more than one primary button, no visible way back or cancel, and
    touch targets closer than MIN_GAP_PX to a neighbour."""
    return page.evaluate("""([min, needsBack, onePrimary, targets, minGap]) => {
        const found = [];
        const seen = new Set();
        const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
        for (let node = walker.nextNode(); node; node = walker.nextNode()) {
            const el = node.parentElement;
            if (!node.textContent.trim() || !el || seen.has(el) || !el.checkVisibility()) continue;
            seen.add(el);
            const size = parseFloat(getComputedStyle(el).fontSize);
            const what = `${el.tagName.toLowerCase()}.${[...el.classList].join(".")}`;
            if (size < min) found.push(`${size} px text (${what}): ${node.textContent.trim().slice(0, 40)}`);
        }
        const primaries = [...document.querySelectorAll(".btn.primary")].filter((b) => b.checkVisibility());
        if (onePrimary && primaries.length > 1) {
            const names = primaries.map((b) => b.textContent.trim()).join(" | ");
            found.push(`${primaries.length} primary buttons: ${names}`);
        }
        const ways = '[data-testid="to-home"], [data-testid="back"], [data-testid="cancel"]';
        const back = [...document.querySelectorAll(ways)].filter((b) => b.checkVisibility());
        if (needsBack && back.length === 0) found.push("no visible way back or cancel");
        // Neighbouring touch targets (side by side or one above the other) at least MIN_GAP apart.
        const boxes = [...document.querySelectorAll(targets)].filter((t) => t.checkVisibility())
            .map((t) => [t, t.getBoundingClientRect()]).filter(([, b]) => b.width > 0);
        for (let i = 0; i < boxes.length; i++) {
            for (let j = i + 1; j < boxes.length; j++) {
                const [a, p] = boxes[i], [b, q] = boxes[j];
                if (a.contains(b) || b.contains(a)) continue;
                const overlapX = Math.min(p.right, q.right) - Math.max(p.left, q.left);
                const overlapY = Math.min(p.bottom, q.bottom) - Math.max(p.top, q.top);
                const gapX = Math.max(p.left, q.left) - Math.min(p.right, q.right);
                const gapY = Math.max(p.top, q.top) - Math.min(p.bottom, q.bottom);
                const close = (overlapY > 0 && gapX < minGap) || (overlapX > 0 && gapY < minGap);
                if (close) {
                    const pair = [a, b].map((t) => t.textContent.trim().slice(0, 20)).join(" / ");
                    found.push(`targets ${Math.round(Math.max(gapX, gapY))} px apart: ${pair}`);
                }
            }
        }
        return found;
    }""", [0 if name in PAPER else MIN_TEXT_PX, name not in NO_WAY_BACK, name not in MANY_PRIMARY,
           TARGETS, MIN_GAP_PX])


def other_hosts(page: Page, base_url: str) -> list[str]:
    """From now on, abort the page's requests to any host but `base_url`'s; the list collects them."""
    own = urlsplit(base_url).netloc
    foreign: list[str] = []

    def local_only(route: Route) -> None:
        url = urlsplit(route.request.url)
        if url.scheme in ("data", "blob") or url.netloc == own:
            route.continue_()
        else:
            foreign.append(f"{page.url}: {route.request.url}")
            route.abort()

    page.route("**/*", local_only)
    return foreign


def test_other_hosts_are_caught(page: Page):
    """Protects the walk's no-external-request check from passing vacuously: an image, a stylesheet
    and a script from another host are each caught."""
    foreign = other_hosts(page, "http://127.0.0.1:9")
    page.set_content('<link rel="stylesheet" href="https://cdn.example.com/a.css">'
                     '<script src="https://cdn.example.com/b.js"></script><img src="http://fonts.example.net/c.png">')
    assert sorted(line.split(": ", 1)[1] for line in foreign) == [
        "http://fonts.example.net/c.png", "https://cdn.example.com/a.css", "https://cdn.example.com/b.js"]


def test_every_kiosk_screen(page: Page, app, live_server: str, screens_dir: Path):
    """Protects issue 9 on every kiosk screen (the touch-layout pages, the car prompt, the visitor
    steps, a scanned pass and slip, the violation form and its printed notice): no serious or
    critical axe-core violation (contrast, names of fields and buttons, lang, landmarks); no request
    to a host other than the app (offline estates); no text under 18 px, at most one primary button
    and a visible way back or cancel (see MANY_PRIMARY, PAPER, NO_WAY_BACK for the exceptions);
    at 1920×1080 no horizontal scrolling and touch targets ≥ 48 px. Saves
    test-results/screens/kiosk-<name>.png at 1280×800 (and the home at 1920)."""
    session_seconds = app.config["GATE_KIOSK_IDLE_MINUTES"] * 60
    foreign = other_hosts(page, live_server)
    findings: dict[str, list[str]] = {}
    walked = []
    for name in walk_kiosk(page, app, live_server):
        walked.append(name)
        page.screenshot(path=str(screens_dir / f"kiosk-{name}.png"), full_page=True)
        found = axe_findings(page) + refresh_findings(page, session_seconds) + touch_findings(page, name)
        page.set_viewport_size(WIDE)
        found += [f"1920×1080: {line}" for line in layout_findings(page)]
        if name == "home":
            page.screenshot(path=str(screens_dir / "kiosk-home-1920.png"), full_page=True)
        page.set_viewport_size(VIEWPORT)
        if found:
            findings[name] = found
    assert walked == SCREENS
    assert not foreign, "requests to other hosts:\n" + "\n".join(foreign)
    assert not findings, "problems on kiosk screens:\n" + "\n".join(
        f"[{name}] {line}" for name, lines in findings.items() for line in lines)
