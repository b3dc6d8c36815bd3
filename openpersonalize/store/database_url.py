"""The metadata store's URL as job workers get it: no password ever travels in a task's arguments.

A batch job's workers open the metadata store themselves. What the job hands them travels as task
arguments (on Ray: kept in the cluster's object store, shown by its dashboard and state API), so it
hands them the URL without its password (``shareable``), and a worker takes the whole URL from
``OPENPERSONALIZE_DATABASE_URL`` in its own environment when that names the same database
(``for_worker``). The server sets the variable for the processes it spawns; Ray machines are started
with it, as they are with the object store's credentials.
"""

from __future__ import annotations

import os

from sqlalchemy.engine import URL, make_url

DATABASE_URL_ENV = "OPENPERSONALIZE_DATABASE_URL"


def _without_password(url: str | URL) -> URL:
    return make_url(url)._replace(password=None)  # URL.set cannot clear a field: None means "keep"


def shareable(url: str) -> str:
    """``url`` without its password: what may be shown to whoever can see a job's task arguments."""
    return _without_password(url).render_as_string(hide_password=False)


def for_worker(shared: str) -> str:
    """The URL a worker opens for the database ``shared`` names.

    ``OPENPERSONALIZE_DATABASE_URL`` when it names that database (its password the secret the
    arguments left out), else ``shared`` itself (a database that needs no password, as SQLite).
    """
    local = os.environ.get(DATABASE_URL_ENV)
    if local and _without_password(local) == make_url(shared):
        return local
    return shared


def export_for_workers(url: str) -> None:
    """Make ``url`` this process's ``OPENPERSONALIZE_DATABASE_URL``, which the workers it spawns inherit."""
    os.environ[DATABASE_URL_ENV] = url
