"""steer/domains.py: the generation judges use the analysis's own script blocks (data/labels.SCRIPTS)."""

from __future__ import annotations

import numpy as np

from monoscope.data.labels import SCRIPTS, script_shares
from monoscope.steer.domains import char_mask


def test_the_cjk_judge_is_the_script_rule_of_the_analysis():
    # every block edge of the CJK script, one code point either side, a compatibility ideograph, ASCII and a space
    edges = [c for a, b in SCRIPTS["cjk"] for c in (a - 1, a, b, b + 1)]
    text = "".join(map(chr, edges)) + "\uf900a1 "
    judged = char_mask(text, "cjk")
    n = len(text)
    shares = script_shares(text, np.arange(n), np.arange(1, n + 1), ("cjk",))["cjk"]
    keep = [not c.isspace() for c in text]  # spaces (U+3000 too) are judged by no rule: tokens skip them
    assert [j for j, k in zip(judged, keep) if k] == [bool(s == 1.0) for s, k in zip(shares, keep) if k]
    assert judged[text.index("\uf900")]  # the two rules used to disagree here: U+F900-FAFF are Han characters
    assert sum(judged) >= 2 * len(SCRIPTS["cjk"])


def test_hex_and_base64_runs():
    text = "id deadbeef01 and aGVsbG8gd29ybGQ+Zm9v!"
    hexm, b64 = char_mask(text, "hex"), char_mask(text, "base64")
    assert "".join(c for c, m in zip(text, hexm) if m) == "deadbeef01"
    assert "".join(c for c, m in zip(text, b64) if m) == "aGVsbG8gd29ybGQ+Zm9v"
