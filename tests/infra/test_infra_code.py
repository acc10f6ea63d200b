"""The functions/ asset every Lambda runs: the code and the templates it renders from."""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk

from takedown_infra.components import LambdaCode

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "functions" / "takedown_core" / "templates"


def test_given_the_functions_asset_when_staged_then_every_template_ships_with_the_code(tmp_path):
    app = cdk.App(outdir=str(tmp_path), context={"aws:cdk:bundling-stacks": []})
    stack = cdk.Stack(app, "S")
    LambdaCode(stack, "Code").function(stack, "ReviewApi", handler="takedown_handlers.review_api.handler", env={})
    assembly = app.synth()
    staged = [d for d in Path(assembly.directory).glob("asset.*") if (d / "takedown_core" / "render.py").is_file()]
    assert len(staged) == 1, "one staged copy of functions/"
    want = sorted(str(p.relative_to(TEMPLATES)) for p in TEMPLATES.rglob("*") if p.is_file())
    got = sorted(str(p.relative_to(staged[0] / "takedown_core" / "templates"))
                 for p in (staged[0] / "takedown_core" / "templates").rglob("*") if p.is_file())
    assert want and got == want
    assert {"pages/review.html.j2", "emails/words.txt.j2", "notices/DMCA.txt.j2", "notices/DSA.txt.j2"} <= set(got)
