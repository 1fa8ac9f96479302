from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from campaigns.admin_views import usage_view  # noqa: E402
from copygen.api import api

urlpatterns = [
    path("admin/usage/", usage_view, name="admin-usage"),
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", include("campaigns.urls")),
]
