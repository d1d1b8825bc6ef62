"""The painting engine on MXNet's executors, in the order a run meets it: the VGG network
(``network``), the objective's terms (``terms``, ``pixels``; per region ``guides``) whole
or tile by tile (``layout``, ``tiles``), the memory model (``memory``) and the run's plan
(``plan``), the solvers and their stop rule (``solvers``, ``stop``), one scale (``scale``)
and the painter that carries out a plan (``painter``)."""
