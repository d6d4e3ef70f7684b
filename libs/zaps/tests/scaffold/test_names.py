"""One short name gives every name of a new service; a name that cannot be all of them is refused."""

import pytest
from zaps.scaffold.names import ScaffoldError, parse_name


def test_one_short_name_gives_every_name():
    names = parse_name("crm-sync")
    assert (names.short, names.folder, names.package) == ("crm-sync", "crm-sync-service", "crm_sync_service")
    assert (names.path_prefix, names.setting_prefix, names.env_prefix) == ("/api/crm-sync", "crm_sync", "CRM_SYNC")


def test_the_folder_name_means_the_same_service():
    assert parse_name("orders-service") == parse_name("orders") == parse_name(" orders ")


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("Orders", "lower-case letters"),
        ("orders_sync", "lower-case letters"),
        ("2fa", "starting with a letter"),
        ("crm--sync", "single dashes"),
        ("-crm", "single dashes"),
        ("crm-", "single dashes"),
        ("", "lower-case letters"),
        ("-service", "lower-case letters"),
        ("a/../../etc", "lower-case letters"),
        ("abcdefghijklmno", "longer than 14"),
    ],
)
def test_refuses_a_name_that_cannot_be_a_folder_a_package_and_a_route(raw, why):
    with pytest.raises(ScaffoldError, match=why):
        parse_name(raw)
