"""Rolling-deploy safety: the release that runs during a deploy, against the schema it meets.

``release`` drives one run (which models, which schema, what broke); ``checkout`` extracts the
merge base's tree; ``process`` and ``worker`` are the two ends of the separate process the
other release's models are imported in; ``models``, ``rows``, ``values`` and ``contract`` run
inside that process; ``blame`` names the revision and line responsible.
"""
