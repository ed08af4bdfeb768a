"""The ranker's weights, one per signal (``ranking.SIGNALS``), fitted on the evaluation sets.

Written by ``python -m benchmarks.fit_ranker`` (see benchmarks/README.md, "Fitting the ranker"); edit
by refitting, not by hand, so that the figures in the README stay the ones these weights give.
"""

WEIGHTS = {
    "bm25": 7.271090866074895,
    "asked": 1.6848567248639712,
    "coverage": 4.859394858938491,
    "title": 1.6767598026357284,
    "neighbours": 0.38856314180765833,
    "date": 2.1930270861831724,
    "numbers": 1.904572228128701,
    "lead": 0.25331477276530023,
    "long": 0.21533198594982741,
}
