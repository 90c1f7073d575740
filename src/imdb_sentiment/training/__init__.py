"""Training-side library code behind the DVC stages in ``stages/``. Serving never imports it."""
