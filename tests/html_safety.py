"""Is a rendered page inert? The active content of an HTML page, for tests of what the grader renders.

``active_content(html)`` lists every script, event-handler attribute, script-running URL, frame/object/embed/base/
form/meta-refresh element and every resource loaded from outside the page (http:, https:, protocol-relative), each
as a short string. A test renders a hostile submission and compares that list with the one of the same page
rendered from the blank release: the template's own scripts are expected, anything more came from a student.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

_SCRIPT_URL = re.compile(r"^\s*(javascript|vbscript|livescript)\s*:|^\s*data\s*:\s*text/html", re.I)
_EXTERNAL = re.compile(r"^\s*(https?:)?//", re.I)
_CSS_URL = re.compile(r"url\(\s*['\"]?\s*((?:https?:)?//[^'\")]+|javascript:[^'\")]*)", re.I)
_URL_ATTRIBUTES = {"src", "href", "action", "formaction", "data", "poster", "xlink:href", "background", "srcset",
                   "lowsrc", "dynsrc", "cite", "longdesc", "ping"}
_ACTIVE_TAGS = {"iframe", "frame", "frameset", "object", "embed", "applet", "base", "form", "portal"}


class _Scanner(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._in_script: str | None = None
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        tag = tag.lower()
        if tag in _ACTIVE_TAGS:
            self.found.append(f"<{tag}>")
        if tag == "meta" and any(k == "http-equiv" and (v or "").lower() == "refresh" for k, v in attrs):
            self.found.append("<meta http-equiv=refresh>")
        if tag == "script":
            src = dict(attrs).get("src")
            self._in_script = f"script src={src}" if src else "script:"
        if tag == "style":
            self._in_style = True
        for name, value in attrs:
            name, value = name.lower(), value or ""
            if name.startswith("on"):
                self.found.append(f"<{tag} {name}=...>")
            if name in _URL_ATTRIBUTES or name == "style":
                for part in ([value] if name != "srcset" else [p.strip().split(" ")[0] for p in value.split(",")]):
                    if _SCRIPT_URL.match(part):
                        self.found.append(f"<{tag} {name}=script URL>")
                    elif name != "style" and _EXTERNAL.match(part) and not (tag == "a" and name == "href"):
                        self.found.append(f"<{tag} {name}={part.strip()}>")
            if name == "style":
                self.found += [f"<{tag} style url({m})>" for m in _CSS_URL.findall(value)]

    def handle_endtag(self, tag):
        if tag.lower() == "script" and self._in_script is not None:
            self.found.append(self._in_script)
            self._in_script = None
        if tag.lower() == "style":
            self._in_style = False

    def handle_data(self, data):
        if self._in_script is not None and self._in_script.startswith("script:"):
            self._in_script += " ".join(data.split())[:200]
        if self._in_style:
            self.found += [f"<style> url({m})" for m in _CSS_URL.findall(data)]
            self.found += [f"<style> @import {m}" for m in re.findall(r"@import\s+['\"]?([^'\";]+)", data)]


def active_content(html: str) -> list[str]:
    scanner = _Scanner()
    scanner.feed(html)
    scanner.close()
    return scanner.found


def added_active_content(html: str, baseline_html: str) -> list[str]:
    """What html has of active content beyond the baseline page's (the template's own scripts and styles)."""
    from collections import Counter

    extra = Counter(active_content(html)) - Counter(active_content(baseline_html))
    return sorted(extra.elements())
