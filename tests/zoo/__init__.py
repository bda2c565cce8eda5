"""The model zoo: models saved by one process and visualised in fresh ones (issue 11).

`make_zoo` builds and saves the models and writes `manifest.json`;
`run_model` loads one model file in a fresh process and checks every public
function against hand-written `tf.GradientTape` references; `pool` runs it
for every model in fresh forkserver processes; `table` prints the results.
"""
