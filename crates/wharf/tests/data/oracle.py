"""Prints what the `dockerfile` package (BuildKit's Go parser) makes of a
Dockerfile, as JSON in the shape of `wharf dockerfile parse --format json`."""
import json
import sys

import dockerfile

try:
    cmds = dockerfile.parse_file(sys.argv[1])
except dockerfile.GoParseError as e:
    print(json.dumps({"error": str(e)}))
    sys.exit(0)
out = []
for c in cmds:
    out.append({
        "cmd": c.cmd.lower(),
        "sub_cmd": c.sub_cmd.lower() if c.sub_cmd else None,
        "json": c.json,
        "original": c.original,
        "start_line": c.start_line,
        "end_line": c.end_line,
        "flags": list(c.flags),
        "value": list(c.value),
        "heredocs": [
            {"name": h.name, "file_descriptor": h.file_descriptor, "content": h.content}
            for h in c.heredocs
        ],
    })
print(json.dumps(out))
