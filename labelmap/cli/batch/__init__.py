"""``labelmap-convert batch``: many itk2seg or seg2itk jobs from a manifest, on local workers or a Dask cluster.

Modules by concern: :mod:`.jobs` (the job and its result, shared by client and workers),
:mod:`.manifest` (CSV rows and ``{id}`` discovery -> jobs, checked before anything runs),
:mod:`.runner` (one job in a worker process: never raises), :mod:`.engine` (Dask: local cluster
or an existing one, worker death, Ctrl-C), :mod:`.report` (one row per manifest row, in order),
:mod:`.progress` (a bar on a terminal, plain lines otherwise), :mod:`.command` (the CLI command).
"""
