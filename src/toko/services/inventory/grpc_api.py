"""The InventoryService servicer: request -> command -> handler -> response, nothing else."""

from __future__ import annotations

from typing import Any

from toko.inventory.v1 import inventory_pb2 as pb
from toko.inventory.v1 import inventory_pb2_grpc
from toko.platform.context import current_principal, idempotency_key_var
from toko.services.inventory.domain import Line, OrderLine, ReceivedLine
from toko.services.inventory.handlers import (
    Inventory,
    flash_sale,
    lots,
    purchasing,
    reservations,
    stock,
    warehouses,
)
from toko.services.inventory.handlers.stock import StockChange
from toko.services.inventory.mapping import from_timestamp, kind_from_proto


class InventoryServicer(inventory_pb2_grpc.InventoryServiceServicer):
    """Serves the inventory over gRPC; access rules are enforced by the platform's interceptor."""

    def __init__(self, inventory: Inventory) -> None:
        self._inventory = inventory

    # --- warehouses -----------------------------------------------------------------------------------------

    async def CreateWarehouse(
        self, request: pb.CreateWarehouseRequest, context: Any
    ) -> pb.CreateWarehouseResponse:
        """Add a warehouse."""
        command = warehouses.CreateWarehouse(
            shop_id=request.shop_id,
            name=request.name,
            address=request.address,
            city=request.city,
            kind=kind_from_proto(request.kind),
        )
        warehouse = await warehouses.create_warehouse(
            inventory=self._inventory,
            command=command,
            principal=current_principal(),
            idempotency_key=idempotency_key_var.get(),
        )
        return pb.CreateWarehouseResponse(warehouse=warehouse)

    async def GetWarehouse(self, request: pb.GetWarehouseRequest, context: Any) -> pb.GetWarehouseResponse:
        """Return one warehouse."""
        warehouse = await warehouses.get_warehouse(
            inventory=self._inventory, warehouse_id=request.id, principal=current_principal()
        )
        return pb.GetWarehouseResponse(warehouse=warehouse)

    async def ListWarehouses(
        self, request: pb.ListWarehousesRequest, context: Any
    ) -> pb.ListWarehousesResponse:
        """List warehouses."""
        page = await warehouses.list_warehouses(
            inventory=self._inventory,
            shop_id=request.shop_id,
            principal=current_principal(),
            page_size=request.page_size,
            page_token=request.page_token,
        )
        return pb.ListWarehousesResponse(warehouses=page.items, next_page_token=page.next_page_token)

    async def UpdateWarehouse(
        self, request: pb.UpdateWarehouseRequest, context: Any
    ) -> pb.UpdateWarehouseResponse:
        """Change a warehouse."""
        warehouse = await warehouses.update_warehouse(
            inventory=self._inventory,
            warehouse=request.warehouse,
            mask=tuple(request.update_mask.paths),
            principal=current_principal(),
        )
        return pb.UpdateWarehouseResponse(warehouse=warehouse)

    # --- stock ----------------------------------------------------------------------------------------------

    async def ReceiveStock(self, request: pb.ReceiveStockRequest, context: Any) -> pb.ReceiveStockResponse:
        """Book a receipt."""
        change = StockChange(
            request.warehouse_id,
            request.sku_id,
            request.quantity,
            reference=request.reference,
            lot_code=request.lot_code,
            expiry_date=request.expiry_date,
        )
        level = await stock.receive_stock(
            inventory=self._inventory,
            change=change,
            principal=current_principal(),
            idempotency_key=idempotency_key_var.get(),
        )
        return pb.ReceiveStockResponse(stock=level)

    async def AdjustStock(self, request: pb.AdjustStockRequest, context: Any) -> pb.AdjustStockResponse:
        """Book an adjustment."""
        change = StockChange(
            request.warehouse_id,
            request.sku_id,
            request.delta,
            reason=request.reason,
            lot_code=request.lot_code,
            expiry_date=request.expiry_date,
        )
        level = await stock.adjust_stock(
            inventory=self._inventory,
            change=change,
            principal=current_principal(),
            idempotency_key=idempotency_key_var.get(),
        )
        return pb.AdjustStockResponse(stock=level)

    async def CountStock(self, request: pb.CountStockRequest, context: Any) -> pb.CountStockResponse:
        """Book a stock count."""
        change = StockChange(
            request.warehouse_id,
            request.sku_id,
            request.counted,
            reason=request.reason,
            lot_code=request.lot_code,
            expiry_date=request.expiry_date,
        )
        level, difference = await stock.count_stock(
            inventory=self._inventory, change=change, principal=current_principal()
        )
        return pb.CountStockResponse(stock=level, difference=difference)

    async def WriteOffStock(self, request: pb.WriteOffStockRequest, context: Any) -> pb.WriteOffStockResponse:
        """Book a write-off."""
        change = StockChange(request.warehouse_id, request.sku_id, request.quantity, reason=request.reason)
        level = await stock.write_off_stock(
            inventory=self._inventory,
            change=change,
            principal=current_principal(),
            idempotency_key=idempotency_key_var.get(),
        )
        return pb.WriteOffStockResponse(stock=level)

    async def SetSkuPerishable(
        self, request: pb.SetSkuPerishableRequest, context: Any
    ) -> pb.SetSkuPerishableResponse:
        """Mark a SKU perishable (or not)."""
        perishable = await stock.set_sku_perishable(
            inventory=self._inventory,
            sku_id=request.sku_id,
            shop_id=request.shop_id,
            perishable=request.perishable,
            principal=current_principal(),
        )
        return pb.SetSkuPerishableResponse(sku_id=request.sku_id, perishable=perishable)

    async def WriteOffExpiredLots(
        self, request: pb.WriteOffExpiredLotsRequest, context: Any
    ) -> pb.WriteOffExpiredLotsResponse:
        """Write off the expired lots of a stock line."""
        level, units = await lots.write_off_expired_lots(
            inventory=self._inventory,
            warehouse_id=request.warehouse_id,
            sku_id=request.sku_id,
            principal=current_principal(),
        )
        return pb.WriteOffExpiredLotsResponse(stock=level, written_off=units)

    async def ReturnToStock(self, request: pb.ReturnToStockRequest, context: Any) -> pb.ReturnToStockResponse:
        """Book returned goods."""
        change = StockChange(
            request.warehouse_id,
            request.sku_id,
            request.quantity,
            reference=request.reference,
            lot_code=request.lot_code,
            expiry_date=request.expiry_date,
        )
        level = await stock.return_to_stock(
            inventory=self._inventory,
            change=change,
            principal=current_principal(),
            idempotency_key=idempotency_key_var.get(),
        )
        return pb.ReturnToStockResponse(stock=level)

    async def SetStockPolicy(
        self, request: pb.SetStockPolicyRequest, context: Any
    ) -> pb.SetStockPolicyResponse:
        """Set safety stock and reorder point."""
        level = await stock.set_stock_policy(
            inventory=self._inventory,
            warehouse_id=request.warehouse_id,
            sku_id=request.sku_id,
            safety_stock=request.safety_stock,
            reorder_point=request.reorder_point,
            principal=current_principal(),
        )
        return pb.SetStockPolicyResponse(stock=level)

    async def TransferStock(self, request: pb.TransferStockRequest, context: Any) -> pb.TransferStockResponse:
        """Move stock between warehouses."""
        command = stock.Transfer(
            request.sku_id, request.from_warehouse_id, request.to_warehouse_id, request.quantity
        )
        transfer_id, source, destination = await stock.transfer_stock(
            inventory=self._inventory,
            command=command,
            principal=current_principal(),
            idempotency_key=idempotency_key_var.get(),
        )
        return pb.TransferStockResponse(transfer_id=transfer_id, source=source, destination=destination)

    async def GetSkuStock(self, request: pb.GetSkuStockRequest, context: Any) -> pb.GetSkuStockResponse:
        """Return a SKU's stock."""
        return await stock.get_sku_stock(
            inventory=self._inventory, sku_id=request.sku_id, principal=current_principal()
        )

    async def ListStockMovements(
        self, request: pb.ListStockMovementsRequest, context: Any
    ) -> pb.ListStockMovementsResponse:
        """List a stock line's ledger."""
        page = await stock.list_movements(
            inventory=self._inventory,
            warehouse_id=request.warehouse_id,
            sku_id=request.sku_id,
            principal=current_principal(),
            page_size=request.page_size,
            page_token=request.page_token,
        )
        return pb.ListStockMovementsResponse(movements=page.items, next_page_token=page.next_page_token)

    async def ListStockLots(self, request: pb.ListStockLotsRequest, context: Any) -> pb.ListStockLotsResponse:
        """List a stock line's lots."""
        page = await lots.list_stock_lots(
            inventory=self._inventory,
            warehouse_id=request.warehouse_id,
            sku_id=request.sku_id,
            principal=current_principal(),
            page_size=request.page_size,
            page_token=request.page_token,
        )
        return pb.ListStockLotsResponse(lots=page.items, next_page_token=page.next_page_token)

    # --- reservations ---------------------------------------------------------------------------------------

    async def ReturnReservedStock(
        self, request: pb.ReturnReservedStockRequest, context: Any
    ) -> pb.ReturnReservedStockResponse:
        """Put units a committed reservation sold back on hand."""
        return await reservations.return_reserved_stock(
            inventory=self._inventory,
            reference=request.reference,
            return_reference=request.return_reference,
            lines=tuple(Line(line.sku_id, line.quantity) for line in request.lines),
            principal=current_principal(),
        )

    async def Reserve(self, request: pb.ReserveRequest, context: Any) -> pb.ReserveResponse:
        """Hold stock for an order."""
        command = reservations.Reserve(
            reference=request.reference,
            lines=tuple(Line(line.sku_id, line.quantity, line.flash_sale_claim_id) for line in request.lines),
            buyer_city=request.buyer_city,
            ttl_seconds=request.ttl_seconds,
            buyer_id=request.buyer_id,
        )
        reservation = await reservations.reserve(
            inventory=self._inventory, command=command, principal=current_principal()
        )
        return pb.ReserveResponse(reservation=reservation)

    async def CommitReservation(
        self, request: pb.CommitReservationRequest, context: Any
    ) -> pb.CommitReservationResponse:
        """Sell a reservation."""
        reservation = await reservations.commit_reservation(
            inventory=self._inventory, reference=request.reference, principal=current_principal()
        )
        return pb.CommitReservationResponse(reservation=reservation)

    async def ReleaseReservation(
        self, request: pb.ReleaseReservationRequest, context: Any
    ) -> pb.ReleaseReservationResponse:
        """Give a reservation back."""
        reservation = await reservations.release_reservation(
            inventory=self._inventory, reference=request.reference, principal=current_principal()
        )
        return pb.ReleaseReservationResponse(reservation=reservation)

    async def GetReservation(
        self, request: pb.GetReservationRequest, context: Any
    ) -> pb.GetReservationResponse:
        """Return a reservation."""
        reservation = await reservations.get_reservation(
            inventory=self._inventory, reference=request.reference
        )
        return pb.GetReservationResponse(reservation=reservation)

    # --- flash sales ----------------------------------------------------------------------------------------

    async def CreateFlashSaleAllocation(
        self, request: pb.CreateFlashSaleAllocationRequest, context: Any
    ) -> pb.CreateFlashSaleAllocationResponse:
        """Set a campaign quota apart."""
        command = flash_sale.CreateAllocation(
            campaign_id=request.campaign_id,
            sku_id=request.sku_id,
            warehouse_id=request.warehouse_id,
            quantity=request.quantity,
            per_buyer_limit=request.per_buyer_limit,
            starts=from_timestamp(request.start_time) if request.HasField("start_time") else None,
            ends=from_timestamp(request.end_time) if request.HasField("end_time") else None,
        )
        allocation = await flash_sale.create_allocation(
            inventory=self._inventory, command=command, principal=current_principal()
        )
        return pb.CreateFlashSaleAllocationResponse(allocation=allocation)

    async def GetFlashSaleAllocation(
        self, request: pb.GetFlashSaleAllocationRequest, context: Any
    ) -> pb.GetFlashSaleAllocationResponse:
        """Return a campaign quota."""
        allocation = await flash_sale.get_allocation(
            inventory=self._inventory, campaign_id=request.campaign_id, sku_id=request.sku_id
        )
        return pb.GetFlashSaleAllocationResponse(allocation=allocation)

    async def ListFlashSaleClaims(
        self, request: pb.ListFlashSaleClaimsRequest, context: Any
    ) -> pb.ListFlashSaleClaimsResponse:
        """The caller's held claims."""
        claims = await flash_sale.list_held_claims(inventory=self._inventory, principal=current_principal())
        return pb.ListFlashSaleClaimsResponse(claims=claims)

    async def ClaimFlashSale(
        self, request: pb.ClaimFlashSaleRequest, context: Any
    ) -> pb.ClaimFlashSaleResponse:
        """Claim flash-sale units for the caller."""
        return await flash_sale.claim_flash_sale(
            inventory=self._inventory,
            campaign_id=request.campaign_id,
            sku_id=request.sku_id,
            quantity=request.quantity,
            principal=current_principal(),
            idempotency_key=idempotency_key_var.get(),
        )

    # --- purchasing -----------------------------------------------------------------------------------------

    async def CreateSupplier(
        self, request: pb.CreateSupplierRequest, context: Any
    ) -> pb.CreateSupplierResponse:
        """Add a supplier."""
        command = purchasing.CreateSupplier(
            shop_id=request.shop_id,
            name=request.name,
            contact_name=request.contact_name,
            contact_email=request.contact_email,
            contact_phone=request.contact_phone,
            payment_terms_days=request.payment_terms_days,
            lead_time_days=request.lead_time_days,
        )
        supplier = await purchasing.create_supplier(
            inventory=self._inventory,
            command=command,
            principal=current_principal(),
            idempotency_key=idempotency_key_var.get(),
        )
        return pb.CreateSupplierResponse(supplier=supplier)

    async def ListSuppliers(self, request: pb.ListSuppliersRequest, context: Any) -> pb.ListSuppliersResponse:
        """List a shop's suppliers."""
        page = await purchasing.list_suppliers(
            inventory=self._inventory,
            shop_id=request.shop_id,
            principal=current_principal(),
            page_size=request.page_size,
            page_token=request.page_token,
        )
        return pb.ListSuppliersResponse(suppliers=page.items, next_page_token=page.next_page_token)

    async def SetSupplierItem(
        self, request: pb.SetSupplierItemRequest, context: Any
    ) -> pb.SetSupplierItemResponse:
        """Set a supplier catalogue line."""
        item = purchasing.SupplierItem(
            sku_id=request.item.sku_id,
            supplier_sku=request.item.supplier_sku,
            cost_amount=request.item.cost_price.amount,
            currency=request.item.cost_price.currency,
            min_order_quantity=request.item.min_order_quantity,
        )
        stored = await purchasing.set_supplier_item(
            inventory=self._inventory,
            supplier_id=request.supplier_id,
            item=item,
            principal=current_principal(),
        )
        return pb.SetSupplierItemResponse(item=stored)

    async def CreatePurchaseOrder(
        self, request: pb.CreatePurchaseOrderRequest, context: Any
    ) -> pb.CreatePurchaseOrderResponse:
        """Draft a purchase order."""
        order = await purchasing.create_purchase_order(
            inventory=self._inventory,
            supplier_id=request.supplier_id,
            warehouse_id=request.warehouse_id,
            lines=[OrderLine(line.sku_id, line.quantity, line.unit_cost.amount) for line in request.lines],
            principal=current_principal(),
            idempotency_key=idempotency_key_var.get(),
        )
        return pb.CreatePurchaseOrderResponse(purchase_order=order)

    async def GetPurchaseOrder(
        self, request: pb.GetPurchaseOrderRequest, context: Any
    ) -> pb.GetPurchaseOrderResponse:
        """Return a purchase order."""
        order = await purchasing.get_purchase_order(
            inventory=self._inventory, purchase_order_id=request.id, principal=current_principal()
        )
        return pb.GetPurchaseOrderResponse(purchase_order=order)

    async def SubmitPurchaseOrder(
        self, request: pb.SubmitPurchaseOrderRequest, context: Any
    ) -> pb.SubmitPurchaseOrderResponse:
        """Submit a purchase order."""
        order = await purchasing.submit_purchase_order(
            inventory=self._inventory, purchase_order_id=request.id, principal=current_principal()
        )
        return pb.SubmitPurchaseOrderResponse(purchase_order=order)

    async def CancelPurchaseOrder(
        self, request: pb.CancelPurchaseOrderRequest, context: Any
    ) -> pb.CancelPurchaseOrderResponse:
        """Cancel a purchase order."""
        order = await purchasing.cancel_purchase_order(
            inventory=self._inventory, purchase_order_id=request.id, principal=current_principal()
        )
        return pb.CancelPurchaseOrderResponse(purchase_order=order)

    async def ReceivePurchaseOrder(
        self, request: pb.ReceivePurchaseOrderRequest, context: Any
    ) -> pb.ReceivePurchaseOrderResponse:
        """Book a goods receipt."""
        order = await purchasing.receive_purchase_order(
            inventory=self._inventory,
            purchase_order_id=request.id,
            receipt=[
                ReceivedLine(line.sku_id, line.accepted, line.rejected, line.lot_code, line.expiry_date)
                for line in request.lines
            ],
            principal=current_principal(),
            idempotency_key=idempotency_key_var.get(),
        )
        return pb.ReceivePurchaseOrderResponse(purchase_order=order)

    async def GetReorderSuggestions(
        self, request: pb.GetReorderSuggestionsRequest, context: Any
    ) -> pb.GetReorderSuggestionsResponse:
        """Suggest what to reorder."""
        suggestions = await purchasing.reorder_suggestions(
            inventory=self._inventory,
            warehouse_id=request.warehouse_id,
            demand_days=request.demand_days,
            principal=current_principal(),
        )
        return pb.GetReorderSuggestionsResponse(suggestions=suggestions)

    async def GetSupplierPerformance(
        self, request: pb.GetSupplierPerformanceRequest, context: Any
    ) -> pb.GetSupplierPerformanceResponse:
        """Measure a supplier."""
        return await purchasing.supplier_performance(
            inventory=self._inventory,
            supplier_id=request.supplier_id,
            start=from_timestamp(request.start_time),
            end=from_timestamp(request.end_time),
            principal=current_principal(),
        )
