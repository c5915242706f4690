"""Builders and test doubles shared by the test modules; no tests live here.

Test modules import from here (``from support.models import make_tiny_model``; pytest puts
``tests/`` on ``sys.path``) and never from one another; tests/test_support.py checks that.
Fixtures that several modules use are in tests/conftest.py and build on these.

- ``support.models``: a tiny randomly initialised model directory (``make_tiny_model``, ``TINY``).
- ``support.fakes``: classifier, loader and explainer doubles for the workers and the GUI.
- ``support.patches``: fixture folders and pixels made from the committed real patches.
- ``support.reviews``: review records as the app writes them.
- ``support.cli``: run ``pathview ...`` in this process.
- ``support.ui``: steps and readings of the GUI tests (needs Qt).
"""
