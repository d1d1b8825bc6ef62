"""Pictures and videos in and out: reading with their guards, resizing and the optimiser's
conventions (``images``), writing a painted picture the same way on every path
(``writing``), video frames and sound (``video``), optical flow and warping (``flow``), and
where a video's shots begin (``scenes``). No MXNet."""
