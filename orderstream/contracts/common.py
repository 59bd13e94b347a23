"""Value types shared by every context: ids, quantities, money, order lines, addresses.

Money is integer minor units plus an ISO 4217 currency code; never a float.
"""

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

Id = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$")]
"""An id: 1-100 characters, none of them a control character (a store uses one as a separator)."""
Quantity = Annotated[int, Field(ge=1, le=1_000_000)]
Count = Annotated[int, Field(ge=0, le=1_000_000_000)]
Amount = Annotated[int, Field(ge=0, le=10**13)]
PositiveAmount = Annotated[int, Field(gt=0, le=10**13)]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
Reason = Annotated[str, Field(min_length=1, max_length=500)]
Text = Annotated[str, Field(min_length=1, max_length=200)]


class Value(BaseModel):
    """An immutable value inside a message or a state."""

    model_config = ConfigDict(frozen=True, strict=True, extra="forbid")


class Item(Value):
    """What a customer asks for: a product and how many. Never a price."""
    product_id: Id
    quantity: Quantity


class OrderLine(Item):
    """An item at the catalog's price, captured when its stock was reserved."""
    unit_price: Amount


class Address(Value):
    recipient: Text
    line1: Text
    line2: str = Field(default="", max_length=200)
    city: Text
    postal_code: str = Field(min_length=1, max_length=20)
    country: str = Field(pattern=r"^[A-Z]{2}$")


def _one_line_per_product(lines: tuple[Item, ...]) -> tuple[Item, ...]:
    seen = [line.product_id for line in lines]
    if len(seen) != len(set(seen)):
        raise ValueError("items: each product may appear on one line only")
    return lines


Items = Annotated[tuple[Item, ...], Field(min_length=1, max_length=100),
                  AfterValidator(_one_line_per_product)]
"""The items of an order: 1..100 lines, one per product (stock is reserved per product)."""
Lines = Annotated[tuple[OrderLine, ...], Field(min_length=1, max_length=100),
                  AfterValidator(_one_line_per_product)]
"""The same items at the catalog's prices."""


def items_of(lines: tuple[Item, ...]) -> tuple[Item, ...]:
    return tuple(Item(product_id=line.product_id, quantity=line.quantity) for line in lines)


def total_of(lines: tuple[OrderLine, ...]) -> int:
    return sum(line.quantity * line.unit_price for line in lines)
