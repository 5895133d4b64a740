"""``distml curve``: how big must the sample be?

One profile and one sample at the largest size (the data stages of ``distml run``, reused from
the cache when an earlier run had the same inputs), then models trained on nested, stratified
training sets of growing size taken from that sample by key rank (nested.py), all scored on
the sample's same test rows; the learning curve fitted and a size recommended (fit.py);
curve.json, plots/curve.png and a section of report.html (report.py). The stage is stage.py.
"""
