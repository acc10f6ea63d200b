"""Storage ports split by concern: one DynamoDB class (and the fake) implements them all, and
each service calls only the ports it declares."""

from __future__ import annotations

import ast
import inspect
import typing
from pathlib import Path

import pytest

from takedown_adapters.dynamo import DynamoCaseRepository
from takedown_core import dispatch, ingest, reconcile, review_service, workflow
from takedown_core.ports import (
    CaseRepository,
    CaseStore,
    DispatchRepository,
    IngestRepository,
    NoticeLedger,
    RateLimits,
    RepeatUploaders,
    ReviewRepository,
    ReviewStore,
    StayDownRegister,
    UploadLedger,
)
from tests.fakes import InMemoryCaseRepository

CONCERNS = (CaseStore, ReviewStore, UploadLedger, StayDownRegister, NoticeLedger, RateLimits, RepeatUploaders)


def _methods(proto: type) -> set[str]:
    return {n for klass in proto.__mro__ if klass not in (object, typing.Protocol, typing.Generic)
            for n, v in vars(klass).items() if callable(v) and not n.startswith("_")}


@pytest.mark.parametrize("impl", [DynamoCaseRepository, InMemoryCaseRepository])
def test_the_one_repository_class_implements_every_port(impl):
    for port in (*CONCERNS, CaseRepository):
        assert issubclass(impl, port), port.__name__
        for name in _methods(port):
            assert list(inspect.signature(getattr(impl, name)).parameters)[1:] == \
                list(inspect.signature(getattr(port, name)).parameters)[1:], f"{impl.__name__}.{name}"


def test_the_ports_split_the_repository_without_overlap_or_remainder():
    owned = [_methods(p) for p in CONCERNS]
    assert sum(len(m) for m in owned) == len(set().union(*owned)) == len(_methods(CaseRepository))


@pytest.mark.parametrize("module,service,port", [
    (ingest, "IngestService", IngestRepository),
    (review_service, "ReviewService", ReviewRepository),
    (workflow, "WorkflowService", ReviewRepository),
    (dispatch, "NoticeService", DispatchRepository),
    (reconcile, "Reconciler", CaseStore),
])
def test_each_service_calls_only_the_ports_it_declares(module, service, port):
    tree = ast.parse(Path(module.__file__).read_text())
    klass = next(n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name == service)
    called = {n.attr for n in ast.walk(klass)
              if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Attribute) and n.value.attr == "repo"}
    assert called, f"{service} uses no repository?"
    assert called <= _methods(port), f"{service} calls {sorted(called - _methods(port))} outside {port.__name__}"
    hints = typing.get_type_hints(getattr(module, service).__init__)
    assert hints["repo"] is port
