"""A trained run (distml run's output directory, or a promoted model directory): run.py loads
it and applies its contract and scoring job to new data; reference.py writes the training
population's monitoring reference it carries."""
