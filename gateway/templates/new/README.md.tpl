# {{name}}

An AIGES ability: `wrapper.py` in the `aiges` SDK style, served by
Athena Mesh (`athena serve`) over HTTP (AIGES JSON) and gRPC. It was written by
`athena new {{name}}` and works as it stands: it returns its text input's length and the text
upper-cased, as JSON. Replace that with your model.

| file | what it is |
|---|---|
| `wrapper.py` | the ability: its schema (`UserRequest`, `UserResponse`) and the calls the loader makes (`wrapperInit`, `wrapperOnceExec`, `wrapperError`, `wrapperFini`) |
| `aiges.toml` | its config: `[fc] max` (concurrent calls per worker), `[wrapper]` (what `wrapperInit(config)` receives) |
| `requirements.txt` | the packages `wrapper.py` imports (`pip install -r {{name}}/requirements.txt`) |
| `test_data/hello.txt` | a sample input, used by the test |
| `test_wrapper.py` | the test: serves the ability with `athena serve` and calls it over HTTP |

## Where your model goes

- imports at the top of `wrapper.py`, and their packages in `requirements.txt`;
- loading in `wrapperInit(config)`: it runs once per worker process, and `config` is the
  `[wrapper]` section of `aiges.toml` (every value a string), e.g. `model_path`;
- inference in `wrapperOnceExec`, where the comment says so. Calls may run at once on several
  threads (`[fc] max`), so keep per-call state in local variables;
- new inputs, params and outputs as fields of `UserRequest` and `UserResponse`;
- your own error codes in `_MESSAGES`: `wrapperError(code)` gives the caller the message.

## Serve

```sh
athena serve {{name}}/wrapper.py                # HTTP on :8080, gRPC on :9090
athena serve {{name}}/wrapper.py --workers 4    # four worker processes
```

## Call

```sh
athena call http://127.0.0.1:8080/v1/private/{{name}} --text @{{name}}/test_data/hello.txt --param lang=fr
# sid: atn...
# result: {"length": 11, "upper": "HELLO WORLD", "lang": "fr"}

athena call grpc://127.0.0.1:9090 --ability {{name}} --text "hello world"

curl -s http://127.0.0.1:8080/v1/private/{{name}} -H 'Content-Type: application/json' -d '{
  "header":    {"app_id": "demo", "status": 3},
  "parameter": {"{{name}}": {"lang": "fr",
                             "result": {"encoding": "utf8", "compress": "raw", "format": "json"}}},
  "payload":   {"text": {"encoding": "utf8", "status": 3, "text": "aGVsbG8gd29ybGQ="}}}'
```

`text` in a request is base64 (`aGVsbG8gd29ybGQ=` is `hello world`); the reply's `result` comes
back as text.

## Test

```sh
python -m pytest {{name}}
```
