import pyarrow as pa
import pytest

from etl.identity import Directory, account_key

USERS = pa.table({
    "upn": ["Jane.Doe@contoso.com", "bob.smith@contoso.com", "amy.lee@contoso.com", "amy.lee@fabrikam.com"],
    "display_name": ["Jane Doe", "Bob Smith", "Amy Lee", "Amy Lee (F)"],
    "department": ["Sales", "IT", "HR", "HR"],
    "sam_account_name": ["jdoe", "bsmith", "alee", None],
})


@pytest.mark.parametrize("raw, expect", [
    ("jane.doe@contoso.com", "jane.doe@contoso.com"),
    ("JANE.DOE@CONTOSO.COM", "jane.doe@contoso.com"),
    ("CONTOSO\\jdoe", "jane.doe@contoso.com"),
    ("contoso\\JDoe", "jane.doe@contoso.com"),
    ("jdoe", "jane.doe@contoso.com"),
    ("bob.smith", "bob.smith@contoso.com"),
    ("amy.lee", "amy.lee"),  # two people share this local part: not guessed, stays as seen
    ("alee", "amy.lee@contoso.com"),
    ("Visitor@Partner.org", "visitor@partner.org"),
    ("CONTOSO\\Unknown.Person", "unknown.person"),
    ("NT AUTHORITY\\SYSTEM", None),
    ("network service", None),
    ("root", None),
    ("LT-0042$", None),
    ("CONTOSO\\lt-0042$", None),
    ("-", None),
    (None, None),
])
def test_accounts_resolve_to_directory_upns(raw, expect):
    assert Directory.from_table(USERS).resolve(raw) == expect


def test_account_key_strips_domain_and_drops_system_accounts():
    assert account_key("CORP\\Alice") == "alice"
    assert account_key("DWM-1") is None
    assert account_key("local service") is None


def test_resolve_array_is_vectorised_over_distinct_values():
    directory = Directory.from_table(USERS)
    out = directory.resolve_array(pa.array(["CONTOSO\\jdoe", "system", None, "CONTOSO\\jdoe"]))
    assert out.to_pylist() == ["jane.doe@contoso.com", None, None, "jane.doe@contoso.com"]


def test_directory_attributes_are_keyed_by_lower_case_upn():
    attrs = Directory.from_table(USERS).attributes().sort_by("user").to_pylist()
    assert attrs[0] == {"user": "amy.lee@contoso.com", "display_name": "Amy Lee", "department": "HR"}
    assert {a["user"] for a in attrs} == {"jane.doe@contoso.com", "bob.smith@contoso.com",
                                         "amy.lee@contoso.com", "amy.lee@fabrikam.com"}
