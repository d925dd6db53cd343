"""The account and token operations check the role themselves, so no page, endpoint or command can forget to."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from accounts.operations import create_account, issue_token, revoke_token, update_account
from core.errors import Forbidden
from core.roles import role_of

pytestmark = pytest.mark.django_db


def test_below_admin_no_account_is_made_or_changed(operator_user, viewer_user):
    with pytest.raises(Forbidden, match="needs administer"):
        create_account("mallory", "pw-for-tests-123", "admin", "", actor=operator_user, source="api")
    with pytest.raises(Forbidden, match="needs administer"):
        update_account(operator_user.username, role="admin", actor=operator_user, source="ui")
    assert not get_user_model().objects.filter(username="mallory").exists()
    assert role_of(operator_user) == "operator" and role_of(viewer_user) == "viewer"


def test_tokens_of_another_account_are_for_admins_only(operator_user, viewer_user, admin_user):
    with pytest.raises(Forbidden):
        issue_token(viewer_user, "theirs", None, actor=operator_user, source="api")
    token, _plain = issue_token(viewer_user, "mine", None, actor=viewer_user, source="ui")
    with pytest.raises(Forbidden):
        revoke_token(token, actor=operator_user, source="api")
    assert token.state == "active"
    revoke_token(token, actor=admin_user, source="api")
    assert token.state == "revoked"
    assert not viewer_user.api_tokens.filter(name="theirs").exists()
