"""The status API's tokens file, viewers and query parameters: refusals in one line, scopes kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from ticket_slo.schemas.access_tokens import TokensFileError, load_tokens
from ticket_slo.streams.status.access import AccessBook, OPEN_ACCESS_VIEWER
from ticket_slo.streams.status.queries import QueryError, decode_cursor, encode_cursor, parse_open_query

GOOD = """tokens:
  - name: support-desk
    token: staff-secret-0123456789
    staff: true
  - name: acme-portal
    token: acme-secret-0123456789
    customer: acme
"""


def test_viewers_by_token(tmp_path: Path) -> None:
    path = tmp_path / "tokens.yaml"
    path.write_text(GOOD)
    book = AccessBook(load_tokens(path))
    staff = book.viewer("staff-secret-0123456789")
    acme = book.viewer("acme-secret-0123456789")
    assert staff is not None and staff.staff and staff.may_see("anyone") and staff.describe() == "staff (support-desk)"
    assert acme is not None and not acme.staff and acme.customer == "acme"
    assert acme.may_see("acme") and not acme.may_see("globex") and not acme.may_see(None)
    for wrong in (None, "", "acme-secret-012345678", "ACME-SECRET-0123456789", "acme-secret-0123456789 "):
        assert book.viewer(wrong) is None, wrong


def test_without_a_tokens_file_everyone_is_staff() -> None:
    book = AccessBook(None)
    assert book.viewer(None) is OPEN_ACCESS_VIEWER and book.viewer("whatever") is OPEN_ACCESS_VIEWER
    assert OPEN_ACCESS_VIEWER.staff


@pytest.mark.parametrize(("text", "says"), [
    ("tokens:\n  - name: a\n    token: short-secret\n    staff: true\n",
     "line 3: tokens.0.token: a token must have at least 16 characters"),
    ("tokens:\n  - name: a\n    token: a-long-enough-secret\n", "line 2: tokens.0: give either"),
    ("tokens:\n  - name: a\n    token: a-long-enough-secret\n    staff: true\n    customer: c\n", "line 2: tokens.0: give either"),
    ("tokens:\n  - name: a\n    token: a-long-enough-secret\n    staff: true\n"
     "  - name: a\n    token: another-long-secret\n    staff: true\n", "the name 'a' is given to two tokens"),
    ("tokens:\n  - name: a\n    token: a-long-enough-secret\n    staff: true\n"
     "  - name: b\n    token: a-long-enough-secret\n    staff: true\n", "token 'b' has the same value as an earlier one"),
    ("tokens:\n  - name: a\n    token: a-long-enough-secret\n    staff: true\n    role: admin\n",
     "line 5: tokens.0.role: Extra inputs are not permitted"),
    ("tokens: []\n", "tokens"),
    ("- just a list\n", "expected a mapping with a 'tokens' list"),
    ("tokens:\n  - name: a\n    token: [unclosed\n", "not valid YAML"),
    ("tokens:\n  - name: a b\n    token: a-long-enough-secret\n    staff: true\n", "line 2: tokens.0.name"),
])
def test_a_bad_tokens_file_is_refused_in_one_line_without_its_secrets(tmp_path: Path, text: str, says: str) -> None:
    path = tmp_path / "tokens.yaml"
    path.write_text(text)
    with pytest.raises(TokensFileError) as caught:
        load_tokens(path)
    message = str(caught.value)
    assert says in message and str(path) in message and "\n" not in message
    for secret in ("short-secret", "a-long-enough-secret", "another-long-secret"):
        assert secret not in message


def test_a_missing_tokens_file(tmp_path: Path) -> None:
    with pytest.raises(TokensFileError, match="cannot read: No such file"):
        load_tokens(tmp_path / "nope.yaml")


def test_open_query_parameters() -> None:
    query = parse_open_query({"customer": "acme", "priority": "p1, P2", "due_within": "900", "limit": "20",
                              "objective": "eta", "account_manager": "dana"})
    assert (query.customer, query.priorities, query.due_within, query.limit, query.objective,
            query.account_manager) == ("acme", frozenset({"P1", "P2"}), 900.0, 20, "eta", "dana")
    assert parse_open_query(query.to_params()) == query
    assert parse_open_query({}).limit == 50


@pytest.mark.parametrize(("params", "says"), [
    ({"priority": "P5"}, "priority='P5' is not one of P1, P2, P3, P4"),
    ({"limit": "0"}, "between 1 and 500"),
    ({"limit": "501"}, "between 1 and 500"),
    ({"limit": "ten"}, "limit='ten' is not a number"),
    ({"due_within": "-1"}, "must not be negative"),
    ({"due_within": "nan"}, "not a finite number"),
    ({"after": "not-a-cursor"}, "is not a cursor of this API"),
    ({"after": encode_cursor((1, "t", "o"))[:-2] + "!!"}, "is not a cursor of this API"),
    ({"custmer": "acme"}, "unknown parameter 'custmer'"),
])
def test_bad_open_queries_say_which_parameter(params: dict[str, str], says: str) -> None:
    with pytest.raises(QueryError, match=None) as caught:
        parse_open_query(params)
    assert says in str(caught.value)


def test_cursors_round_trip_and_refuse_other_shapes() -> None:
    key = (1_796_075_701_818_899, "T-ü/1", "first_response")
    assert decode_cursor(encode_cursor(key)) == key
    import base64
    for shape in (b'[1, "a"]', b'["1", "a", "b"]', b'[true, "a", "b"]', b'{"a": 1}'):
        with pytest.raises(QueryError):
            decode_cursor(base64.urlsafe_b64encode(shape).decode())
