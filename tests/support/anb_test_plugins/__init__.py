"""A stand-in third-party package: steps and a sink that live outside anb_pipeline.

``tests/support`` is on sys.path (and on PYTHONPATH for worker subprocesses), so the
dist-info directory beside this package registers real entry points.
"""
