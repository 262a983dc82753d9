"""The UserService servicer: request -> command -> handler -> response, nothing else."""

from __future__ import annotations

from typing import Any

from toko.platform.context import current_principal, idempotency_key_var
from toko.services.user.domain import ShopFields
from toko.services.user.handlers import Users, accounts, addresses, shops, totp, wishlists
from toko.services.user.mapping import address_fields_from_proto
from toko.user.v1 import user_pb2 as pb
from toko.user.v1 import user_pb2_grpc


class UserServicer(user_pb2_grpc.UserServiceServicer):
    """Serves accounts, addresses, wishlists and shops; the platform's interceptor enforces access rules."""

    def __init__(self, users: Users) -> None:
        self._users = users

    # --- accounts -----------------------------------------------------------------------------------------

    async def SignUp(self, request: pb.SignUpRequest, context: Any) -> pb.SignUpResponse:
        """Create an account."""
        command = accounts.SignUp(
            email=request.email,
            password=request.password,
            name=request.name,
            phone=request.phone,
            language=request.language,
        )
        user = await accounts.sign_up(
            users=self._users,
            command=command,
            principal=current_principal(),
            idempotency_key=idempotency_key_var.get(),
        )
        return pb.SignUpResponse(user=user)

    async def VerifyEmail(self, request: pb.VerifyEmailRequest, context: Any) -> pb.VerifyEmailResponse:
        """Verify an email address."""
        return pb.VerifyEmailResponse(
            user=await accounts.verify_email(users=self._users, token=request.token)
        )

    async def ResendVerification(
        self, request: pb.ResendVerificationRequest, context: Any
    ) -> pb.ResendVerificationResponse:
        """Mail a new verification link."""
        await accounts.resend_verification(
            users=self._users, user_id=request.user_id, principal=current_principal()
        )
        return pb.ResendVerificationResponse()

    async def RequestPasswordReset(
        self, request: pb.RequestPasswordResetRequest, context: Any
    ) -> pb.RequestPasswordResetResponse:
        """Mail a reset link if the account exists."""
        await accounts.request_password_reset(users=self._users, email=request.email)
        return pb.RequestPasswordResetResponse()

    async def ResetPassword(self, request: pb.ResetPasswordRequest, context: Any) -> pb.ResetPasswordResponse:
        """Set a new password with a reset token."""
        await accounts.reset_password(
            users=self._users, token=request.token, new_password=request.new_password
        )
        return pb.ResetPasswordResponse()

    async def ChangePassword(
        self, request: pb.ChangePasswordRequest, context: Any
    ) -> pb.ChangePasswordResponse:
        """Replace the password."""
        await accounts.change_password(
            users=self._users,
            user_id=request.user_id,
            current_password=request.current_password,
            new_password=request.new_password,
            principal=current_principal(),
        )
        return pb.ChangePasswordResponse()

    async def GetUser(self, request: pb.GetUserRequest, context: Any) -> pb.GetUserResponse:
        """Return a profile."""
        user = await accounts.get_user(
            users=self._users, user_id=request.user_id, principal=current_principal()
        )
        return pb.GetUserResponse(user=user)

    async def UpdateUser(self, request: pb.UpdateUserRequest, context: Any) -> pb.UpdateUserResponse:
        """Change profile fields."""
        command = accounts.UpdateProfile(
            user_id=request.user.id,
            mask=tuple(request.update_mask.paths),
            name=request.user.name,
            phone=request.user.phone,
            birth_date=request.user.birth_date,
            avatar_url=request.user.avatar_url,
            language=request.user.language,
        )
        user = await accounts.update_user(users=self._users, command=command, principal=current_principal())
        return pb.UpdateUserResponse(user=user)

    async def DeleteUser(self, request: pb.DeleteUserRequest, context: Any) -> pb.DeleteUserResponse:
        """Delete an account."""
        await accounts.delete_user(users=self._users, user_id=request.user_id, principal=current_principal())
        return pb.DeleteUserResponse()

    async def GrantRole(self, request: pb.GrantRoleRequest, context: Any) -> pb.GrantRoleResponse:
        """Grant a role."""
        user = await accounts.set_role(
            users=self._users,
            user_id=request.user_id,
            role=request.role,
            granted=True,
            principal=current_principal(),
        )
        return pb.GrantRoleResponse(user=user)

    async def RevokeRole(self, request: pb.RevokeRoleRequest, context: Any) -> pb.RevokeRoleResponse:
        """Revoke a role."""
        user = await accounts.set_role(
            users=self._users,
            user_id=request.user_id,
            role=request.role,
            granted=False,
            principal=current_principal(),
        )
        return pb.RevokeRoleResponse(user=user)

    # --- addresses ----------------------------------------------------------------------------------------

    async def CreateAddress(self, request: pb.CreateAddressRequest, context: Any) -> pb.CreateAddressResponse:
        """Add an address."""
        address = await addresses.create_address(
            users=self._users,
            user_id=request.user_id,
            fields=address_fields_from_proto(request.address),
            principal=current_principal(),
            idempotency_key=idempotency_key_var.get(),
        )
        return pb.CreateAddressResponse(address=address)

    async def ListAddresses(self, request: pb.ListAddressesRequest, context: Any) -> pb.ListAddressesResponse:
        """List the address book."""
        page = await addresses.list_addresses(
            users=self._users,
            user_id=request.user_id,
            principal=current_principal(),
            page_size=request.page_size,
            page_token=request.page_token,
        )
        return pb.ListAddressesResponse(addresses=page.items, next_page_token=page.next_page_token)

    async def GetAddress(self, request: pb.GetAddressRequest, context: Any) -> pb.GetAddressResponse:
        """Return an address."""
        address = await addresses.get_address(
            users=self._users,
            user_id=request.user_id,
            address_id=request.address_id,
            principal=current_principal(),
        )
        return pb.GetAddressResponse(address=address)

    async def UpdateAddress(self, request: pb.UpdateAddressRequest, context: Any) -> pb.UpdateAddressResponse:
        """Change address fields."""
        command = addresses.UpdateAddress(
            user_id=request.user_id,
            address_id=request.address.id,
            changes=address_fields_from_proto(request.address),
            mask=tuple(request.update_mask.paths),
        )
        address = await addresses.update_address(
            users=self._users, command=command, principal=current_principal()
        )
        return pb.UpdateAddressResponse(address=address)

    async def DeleteAddress(self, request: pb.DeleteAddressRequest, context: Any) -> pb.DeleteAddressResponse:
        """Remove an address."""
        await addresses.delete_address(
            users=self._users,
            user_id=request.user_id,
            address_id=request.address_id,
            principal=current_principal(),
        )
        return pb.DeleteAddressResponse()

    async def SetDefaultAddress(
        self, request: pb.SetDefaultAddressRequest, context: Any
    ) -> pb.SetDefaultAddressResponse:
        """Make an address the default."""
        address = await addresses.set_default_address(
            users=self._users,
            user_id=request.user_id,
            address_id=request.address_id,
            principal=current_principal(),
        )
        return pb.SetDefaultAddressResponse(address=address)

    # --- wishlists ----------------------------------------------------------------------------------------

    async def AddWishlistItem(
        self, request: pb.AddWishlistItemRequest, context: Any
    ) -> pb.AddWishlistItemResponse:
        """Put a product on the wishlist."""
        item = await wishlists.add_item(
            users=self._users,
            user_id=request.user_id,
            product_id=request.product_id,
            collection_id=request.collection_id,
            principal=current_principal(),
        )
        return pb.AddWishlistItemResponse(item=item)

    async def RemoveWishlistItem(
        self, request: pb.RemoveWishlistItemRequest, context: Any
    ) -> pb.RemoveWishlistItemResponse:
        """Take a product off the wishlist."""
        await wishlists.remove_item(
            users=self._users,
            user_id=request.user_id,
            product_id=request.product_id,
            collection_id=request.collection_id,
            principal=current_principal(),
        )
        return pb.RemoveWishlistItemResponse()

    async def ListWishlistItems(
        self, request: pb.ListWishlistItemsRequest, context: Any
    ) -> pb.ListWishlistItemsResponse:
        """List the wishlist."""
        page = await wishlists.list_items(
            users=self._users,
            user_id=request.user_id,
            collection_id=request.collection_id,
            principal=current_principal(),
            page_size=request.page_size,
            page_token=request.page_token,
        )
        return pb.ListWishlistItemsResponse(items=page.items, next_page_token=page.next_page_token)

    async def CreateWishlistCollection(
        self, request: pb.CreateWishlistCollectionRequest, context: Any
    ) -> pb.CreateWishlistCollectionResponse:
        """Add a collection."""
        collection = await wishlists.create_collection(
            users=self._users,
            user_id=request.user_id,
            name=request.collection.name,
            principal=current_principal(),
        )
        return pb.CreateWishlistCollectionResponse(collection=collection)

    async def ListWishlistCollections(
        self, request: pb.ListWishlistCollectionsRequest, context: Any
    ) -> pb.ListWishlistCollectionsResponse:
        """List the collections."""
        page = await wishlists.list_collections(
            users=self._users,
            user_id=request.user_id,
            principal=current_principal(),
            page_size=request.page_size,
            page_token=request.page_token,
        )
        return pb.ListWishlistCollectionsResponse(
            collections=page.items, next_page_token=page.next_page_token
        )

    async def DeleteWishlistCollection(
        self, request: pb.DeleteWishlistCollectionRequest, context: Any
    ) -> pb.DeleteWishlistCollectionResponse:
        """Remove a collection."""
        await wishlists.delete_collection(
            users=self._users,
            user_id=request.user_id,
            collection_id=request.collection_id,
            principal=current_principal(),
        )
        return pb.DeleteWishlistCollectionResponse()

    # --- shops --------------------------------------------------------------------------------------------

    async def OpenShop(self, request: pb.OpenShopRequest, context: Any) -> pb.OpenShopResponse:
        """Open a shop."""
        command = shops.OpenShop(
            name=request.name,
            domain=request.domain,
            description=request.description,
            origin_city=request.origin_city,
        )
        shop = await shops.open_shop(
            users=self._users,
            command=command,
            principal=current_principal(),
            idempotency_key=idempotency_key_var.get(),
        )
        return pb.OpenShopResponse(shop=shop)

    async def GetShop(self, request: pb.GetShopRequest, context: Any) -> pb.GetShopResponse:
        """Return a shop."""
        return pb.GetShopResponse(shop=await shops.get_shop(users=self._users, shop_id=request.shop_id))

    async def GetShopByDomain(
        self, request: pb.GetShopByDomainRequest, context: Any
    ) -> pb.GetShopByDomainResponse:
        """Return a shop by domain."""
        shop = await shops.get_shop_by_domain(users=self._users, domain_slug=request.domain)
        return pb.GetShopByDomainResponse(shop=shop)

    async def ListShops(self, request: pb.ListShopsRequest, context: Any) -> pb.ListShopsResponse:
        """List active shops."""
        page = await shops.list_shops(
            users=self._users, page_size=request.page_size, page_token=request.page_token
        )
        return pb.ListShopsResponse(shops=page.items, next_page_token=page.next_page_token)

    async def UpdateShop(self, request: pb.UpdateShopRequest, context: Any) -> pb.UpdateShopResponse:
        """Change shop fields."""
        command = shops.UpdateShop(
            shop_id=request.shop.id,
            changes=ShopFields(
                name=request.shop.name,
                description=request.shop.description,
                origin_city=request.shop.origin_city,
            ),
            mask=tuple(request.update_mask.paths),
        )
        shop = await shops.update_shop(users=self._users, command=command, principal=current_principal())
        return pb.UpdateShopResponse(shop=shop)

    async def CloseShop(self, request: pb.CloseShopRequest, context: Any) -> pb.CloseShopResponse:
        """Close a shop."""
        shop = await shops.close_shop(
            users=self._users, shop_id=request.shop_id, principal=current_principal()
        )
        return pb.CloseShopResponse(shop=shop)

    async def TransferShop(self, request: pb.TransferShopRequest, context: Any) -> pb.TransferShopResponse:
        """Hand a shop to another account."""
        shop = await shops.transfer_shop(
            users=self._users,
            shop_id=request.shop_id,
            new_owner_id=request.new_owner_id,
            principal=current_principal(),
        )
        return pb.TransferShopResponse(shop=shop)

    async def AddShopStaff(self, request: pb.AddShopStaffRequest, context: Any) -> pb.AddShopStaffResponse:
        """Add a staff member."""
        member = await shops.add_staff(
            users=self._users, shop_id=request.shop_id, user_id=request.user_id, principal=current_principal()
        )
        return pb.AddShopStaffResponse(member=member)

    async def RemoveShopStaff(
        self, request: pb.RemoveShopStaffRequest, context: Any
    ) -> pb.RemoveShopStaffResponse:
        """Remove a staff member."""
        await shops.remove_staff(
            users=self._users, shop_id=request.shop_id, user_id=request.user_id, principal=current_principal()
        )
        return pb.RemoveShopStaffResponse()

    async def ListShopStaff(self, request: pb.ListShopStaffRequest, context: Any) -> pb.ListShopStaffResponse:
        """List a shop's staff."""
        page = await shops.list_staff(
            users=self._users,
            shop_id=request.shop_id,
            principal=current_principal(),
            page_size=request.page_size,
            page_token=request.page_token,
        )
        return pb.ListShopStaffResponse(members=page.items, next_page_token=page.next_page_token)

    # --- TOTP ---------------------------------------------------------------------------------------------

    async def EnrollTotp(self, request: pb.EnrollTotpRequest, context: Any) -> pb.EnrollTotpResponse:
        """Start enrolling a second factor."""
        return await totp.enroll(users=self._users, user_id=request.user_id, principal=current_principal())

    async def ConfirmTotp(self, request: pb.ConfirmTotpRequest, context: Any) -> pb.ConfirmTotpResponse:
        """Turn the second factor on."""
        codes = await totp.confirm(
            users=self._users, user_id=request.user_id, code=request.code, principal=current_principal()
        )
        return pb.ConfirmTotpResponse(recovery_codes=codes)

    async def DisableTotp(self, request: pb.DisableTotpRequest, context: Any) -> pb.DisableTotpResponse:
        """Turn the second factor off."""
        await totp.disable(
            users=self._users, user_id=request.user_id, code=request.code, principal=current_principal()
        )
        return pb.DisableTotpResponse()

    # --- internal -----------------------------------------------------------------------------------------

    async def VerifyCredentials(
        self, request: pb.VerifyCredentialsRequest, context: Any
    ) -> pb.VerifyCredentialsResponse:
        """Check an email address and password."""
        return await accounts.verify_credentials(
            users=self._users, email=request.email, password=request.password
        )

    async def VerifySecondFactor(
        self, request: pb.VerifySecondFactorRequest, context: Any
    ) -> pb.VerifySecondFactorResponse:
        """Check a second-factor code."""
        await totp.verify_second_factor(users=self._users, user_id=request.user_id, code=request.code)
        return pb.VerifySecondFactorResponse()

    async def GetUserClaims(self, request: pb.GetUserClaimsRequest, context: Any) -> pb.GetUserClaimsResponse:
        """Return what tokens say about an account."""
        return await accounts.get_user_claims(users=self._users, user_id=request.user_id)
