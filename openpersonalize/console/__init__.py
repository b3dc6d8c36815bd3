"""The web console at ``/console``: server-rendered pages over the same operations boto3 reaches.

``console_app`` builds it; ``auth`` signs browsers in, ``web`` is the page plumbing, ``service``
runs control-plane operations as a signed request would, and one module per group of pages
(``home``, ``data_pages``, ``solution_pages``, ``campaign_pages``, ``resource_pages``,
``job_pages``) reads and acts. Templates and the vendored front-end libraries (htmx, uPlot, with
their licences) ship in ``templates/`` and ``static/``.
"""

from .app import console_app

__all__ = ["console_app"]
