"""Who may call what. Object-level visibility comes from pipeline.selectors (404), changes from
can_change_deal / can_change_lead (403) in the views."""
from rest_framework import permissions


class IsAdminOrReadOnly(permissions.BasePermission):
    """Everyone signed in reads; only admins (role admin or superuser) write configuration."""

    def has_permission(self, request, view):
        user = request.user
        if not (user and user.is_authenticated):
            return False
        return request.method in permissions.SAFE_METHODS or user.is_admin
