# Config of the {{name}} ability (wrapper.py beside this file; route POST /v1/private/{{name}}).
# `athena serve {{name}}/wrapper.py` reads it; `athena serve --help` lists what else it may hold.

[fc]
# concurrent wrapper calls per worker (the licence); one more is refused at once with 10110
max = 4

[wrapper]
# Every key here reaches wrapperInit(config) as a string: put your model's settings here
# (e.g. model_path = "model/weights.bin").

# longer "text" inputs are refused with 13004
max_chars = 10000
