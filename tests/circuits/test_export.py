"""graph.json and the offline graph page."""

import json

from monoscope.circuits.api import AttributeConfig, attribute


def test_attribute_writes_a_checked_graph_and_an_offline_page(two_layer, tmp_path):
    folder, _, _, _ = two_layer
    tcs = [folder / "transcoders" / f"L{i}" for i in range(2)]
    rec = attribute(
        folder / "model",
        tcs,
        "the cat and the dog sat on a mat in the sun",
        "#7",
        tmp_path,
        AttributeConfig(node_threshold=0.99, top_real=4),
        feature_pages={0: "../dash0"},
    )
    saved = json.loads((tmp_path / "graph.json").read_text())
    assert saved["target"]["label"] == "logit 7" and saved["frozen_check"]["edge_max_rel_error"] <= 1e-4
    ids = {n["id"] for n in saved["nodes"]}
    assert all(e["source"] in ids and e["target"] in ids for e in saved["links"])
    assert {n["kind"] for n in saved["nodes"]} >= {"token", "target"}
    assert saved["pruned"]["nodes"] == len(saved["nodes"]) <= saved["unpruned"]["nodes"]
    html = (tmp_path / "graph.html").read_text()
    assert "<svg" in html and "<script" not in html
    assert "http" not in html.replace("http://www.w3.org/2000/svg", "")
    layer0 = [n for n in saved["nodes"] if n["kind"] == "feature" and n["layer"] == 0]
    assert html.count("../dash0/feature.html#") == len(layer0) > 0
    assert rec["pruned"] == saved["pruned"]
