"""alwidget's benchmarks: run each script as a module from the repository root.

* ``benchmarks.perf``: speed and memory (features, learner, scale, search, widget);
* ``benchmarks.evidence``: label efficiency and the evidence for the defaults
  (compare_peers, real_audio, default_screen, feature_screen);
* ``benchmarks._common``: what the scripts share.

``benchmarks/README.md`` is the report: commands, figures and the machines they came from.
"""
