"""Schemathesis against the server's own /_mock/openapi.json: generated requests (valid and invalid) for every
operation, checked for server errors and for answers that contradict the document (status codes, content types,
headers, response schemas). SCHEMATHESIS_EXAMPLES (default 15) sets the examples per operation.

Excluded: /_mock/faults, whose rules inject 5xx answers on purpose; /_mock/events, whose answers are held until an
event arrives (up to 15 s each; EventStreamTests cover it); and the two checks that compare what the
document's schemas allow with what the handlers accept (negative_data_rejection, positive_data_acceptance): the
handlers also check what JSON Schema cannot say (UTF-16 surrogates, which fields exclude each other, names that
must exist in the catalog), so those disagree by design."""
import os
import pathlib
import subprocess
import sys

EXAMPLES = os.environ.get("SCHEMATHESIS_EXAMPLES", "15")


def test_generated_requests_get_no_server_error_and_match_the_document(server, tmp_path):
    st = pathlib.Path(sys.executable).with_name("schemathesis")
    result = subprocess.run(
        [str(st), "run", f"{server.url}/_mock/openapi.json", "--exclude-path-regex", "^/_mock/(faults|events)",
         "--checks", "all", "--exclude-checks", "negative_data_rejection,positive_data_acceptance",
         "--max-examples", EXAMPLES, "--seed", "20261123", "--workers", "2", "--no-color",
         "--report-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=600, cwd=tmp_path)   # its cache stays out of the repository
    tail = "\n".join(result.stdout.splitlines()[-60:])
    assert result.returncode == 0, f"schemathesis found failures:\n{tail}\n{result.stderr[-2000:]}"
    server.stop()
