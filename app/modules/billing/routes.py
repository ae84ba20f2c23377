"""HTTP face of the billing module: one's own usage, and quotas for admins."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, put
from litestar.di import NamedDependency
from litestar.params import JSONBody, PathParameter

from app.kernel.auth import USER_ID_PATTERN, Principal, requires_admin
from contracts.billing import BillingAPI, Quota, QuotaUpdate, UsageSummary

UserId = Annotated[str, PathParameter(pattern=USER_ID_PATTERN.pattern, max_length=128)]


class UsageController(Controller):
    path = "/usage"
    tags = ["billing"]

    @get(operation_id="getOwnUsage", summary="The caller's sessions against their quota")
    async def own_usage(
        self, request: Request[Principal, Any, Any], billing: NamedDependency[BillingAPI]
    ) -> UsageSummary:
        return await billing.usage_summary(user_id=request.user.user_id)


class QuotaAdminController(Controller):
    path = "/admin/quotas"
    tags = ["billing"]
    guards = [requires_admin]

    @get("/{user_id:str}", operation_id="getQuota", summary="A user's quota (admin)")
    async def get_quota(self, billing: NamedDependency[BillingAPI], user_id: UserId) -> Quota:
        return await billing.get_quota(user_id=user_id)

    @put("/{user_id:str}", operation_id="setQuota", summary="Set a user's quota (admin)")
    async def set_quota(
        self, billing: NamedDependency[BillingAPI], user_id: UserId, data: JSONBody[QuotaUpdate]
    ) -> Quota:
        return await billing.set_quota(user_id=user_id, update=data)
