"""The sample stage: an exact, reproducible stratified sample and train/valid/test split
(``sampling.*`` in conf/). ``plan`` sizes it, ``first_pass`` counts strata and keeps candidate
keys, ``cuts`` finds each stratum's exact cut keys, ``select`` writes the chosen rows, ``stage``
runs them in order."""
