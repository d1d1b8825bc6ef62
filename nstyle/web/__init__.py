"""The web app: paint in the browser and watch the picture form.

    python -m nstyle.web [--host H] [--port P] [--gpu N]      (or: make serve)

A Starlette application served by uvicorn on the loopback address by default. It sits at
the command line's level: it uses the library (``nstyle.api``, ``config``, ``images``,
``devices``...) and nothing in the library imports it.

* ``options``: the form's fields, generated from ``nstyle.config.Options``, and the parsing
  of submitted values into checked ``Options`` (no framework, no MXNet);
* ``jobs``: the jobs and the one worker thread that runs them, one at a time;
* ``app``: the HTTP routes (the JSON API, Server-Sent Events, the static page);
* ``__main__``: the command that serves it.
"""
