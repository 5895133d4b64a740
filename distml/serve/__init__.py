"""Online scoring (``distml serve``): what a Ray Serve replica does, free of Ray.

The Serve deployment is distml/serve/deployment.py (the only code here that imports Ray). A replica
loads a training run or promoted model (``model``), reads a request's rows, a JSON list of
objects or an Arrow IPC body, and conforms them to the training schema with the same string
parsing as files (``rows``), checks the training run's row rules (``trained.run.contract_on``,
the contract ``distml predict`` applies) and scores the rows that keep them through the one scoring
path, ``scoring.predict`` and ``scoring.prediction_frame`` (``answers``): a row that breaks the
contract gets its own error naming the column and rule, and the other rows are scored. Sampled
scored rows go to a request log that ``distml monitor`` reads (``log``); ``command`` is what
``distml serve`` checks before Ray starts.
"""
