"""The ranker's weights, one per signal (``ranking.SIGNALS``), fitted on the evaluation sets.

Written by ``python -m benchmarks.fit_ranker`` (its docstring, and the README's "Ranking"); edit
by refitting, not by hand, so that the figures in the README stay the ones these weights give.
"""

WEIGHTS = {
    "bm25": 7.2235838428844215,
    "asked": 2.115740184121285,
    "coverage": 4.839193311640464,
    "title": 1.6845927756763013,
    "neighbours": 0.4667962794044019,
    "date": 2.193788554616172,
    "numbers": 2.0578945809166878,
    "lead": 0.2526580252537183,
    "long": 0.23932502026112407,
}
