"""Many pictures in one run: a folder of photos, videos frame by frame, on this process or
on a Ray cluster, resumable from the output folder's manifest. No MXNet at import.

A picture is one task; a video is split into shots at scene cuts and each shot is a chain of
frame tasks, painted in order, each from the previous styled frame. Different chains and
pictures run in parallel when there are several workers; chains are served before
pictures, the longest first, so that they do not end last.

The modules, in the order a run meets them:

* ``inputs``: what ``--content-image`` names (files, folders, patterns) and each output's
  name;
* ``manifest``: the settings that shape a picture, their hash, and the record of what is
  finished;
* ``tasks``: a job (an input and its output), the task a worker paints, a video's chains;
* ``driver``: ``Batch``, the pictures half and the loop that feeds a runner; ``videos``:
  its video half (shots, frames, the video written);
* ``runners``: where tasks are painted, in this process or on Ray, through ``Local``;
  ``cluster``: reaching and starting Ray;
* ``progress``: the bar and a line per finished item.

Scene cuts are ``nstyle.media.scenes``.
"""

from nstyle import _moved

# nstyle 0.3's names of nstyle.many (and nstyle.batch's, for code that used them here)
__getattr__ = _moved.names_in(
    __name__,
    tuple(
        f"nstyle.{module}"
        for module in (
            "many.driver",
            "many.runners",
            "many.tasks",
            "many.manifest",
            "many.inputs",
            "many.cluster",
            "many.progress",
            "many.videos",
            "media.scenes",
        )
    ),
)
