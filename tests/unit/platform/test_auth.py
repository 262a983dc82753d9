"""Access rules declared on RPCs and the development token authenticator."""

import pytest

from toko.platform.auth import ANONYMOUS, AccessRule, DevTokenAuthenticator, Principal
from toko.platform.errors import PermissionDenied, Unauthenticated
from toko.product.v1 import product_pb2

METHODS = product_pb2.DESCRIPTOR.services_by_name["ProductService"].methods_by_name
SELLER = Principal(subject="u1", roles=frozenset({"buyer", "seller"}), scopes=frozenset({"catalog.write"}))


def test_public_rpcs_admit_anonymous_callers() -> None:
    AccessRule.of(METHODS["GetProduct"]).check(ANONYMOUS)


def test_protected_rpc_asks_an_anonymous_caller_to_authenticate() -> None:
    with pytest.raises(Unauthenticated):
        AccessRule.of(METHODS["CreateProduct"]).check(ANONYMOUS)


def test_role_and_scope_are_both_required() -> None:
    rule = AccessRule.of(METHODS["CreateProduct"])
    rule.check(SELLER)
    with pytest.raises(PermissionDenied) as caught:
        rule.check(Principal(subject="u2", roles=frozenset({"buyer"}), scopes=frozenset({"catalog.write"})))
    assert caught.value.reason == "ROLE_REQUIRED"
    with pytest.raises(PermissionDenied) as caught:
        rule.check(Principal(subject="u3", roles=frozenset({"seller"})))
    assert caught.value.reason == "SCOPE_REQUIRED"


def test_admin_only_rpc_refuses_a_seller() -> None:
    with pytest.raises(PermissionDenied):
        AccessRule.of(METHODS["CreateCategory"]).check(SELLER)


def test_dev_token_makes_the_caller_an_admin_and_anything_else_fails() -> None:
    authenticator = DevTokenAuthenticator("s3cret-token")
    assert authenticator.authenticate(None) is ANONYMOUS
    assert authenticator.authenticate("Bearer s3cret-token").is_admin
    for header in ("Bearer wrong", "Basic s3cret-token", "Bearer ", "s3cret-token"):
        with pytest.raises(Unauthenticated):
            authenticator.authenticate(header)


def test_an_empty_dev_token_accepts_no_bearer_at_all() -> None:
    with pytest.raises(Unauthenticated):
        DevTokenAuthenticator("").authenticate("Bearer ")
    with pytest.raises(Unauthenticated):
        DevTokenAuthenticator("").authenticate("Bearer anything")
