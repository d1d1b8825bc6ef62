"""The web app: paint in the browser and watch the picture form.

    python -m nstyle.web [--host H] [--port P] [--gpu N]      (or: make serve)

A Starlette application served by uvicorn on the loopback address by default. It sits at
the command line's level: it uses the library (``nstyle.api``, ``config``, ``images``,
``devices``...) and nothing in the library imports it.

* ``options``: the form's fields, generated from ``nstyle.config.Options``, and the parsing
  of submitted values into checked ``Options`` (no framework, no MXNet);
* ``jobs``: the jobs and the one worker thread that runs them, one at a time;
* ``refusals``: an error's HTTP status by its kind, and the JSON shape of every refusal;
* ``guard``: what a request must pass (the Host header, a same-site origin, the upload's
  limits, read while it comes);
* ``server``: one app's state (the worker, the working folder, the limits) and a job's
  intake: the form read, checked and decoded;
* ``routes``: the request handlers (the JSON API, Server-Sent Events, the static page);
* ``app``: ``create_app``, which puts them together (and takes the weights loader);
* ``__main__``: the command that serves it.
"""
