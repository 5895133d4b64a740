"""The evaluate stage (``eval.*`` in conf/): valid and test scored in parallel, exact metric
states merged on the driver, the threshold chosen on valid, and the model gates."""
