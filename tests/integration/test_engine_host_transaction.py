"""The engine inside a host's own transaction: its rows and ours commit or roll back together."""

from __future__ import annotations

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from tests.integration.engine_fixtures import ACTORS, START_DATA, Harness, wf
from workflow.errors import ItemNotFound, NotAuthorized

__all__ = ["wf"]


@pytest.fixture
def orders(wf: Harness) -> Table:
    """The host's own table (with the test's prefix, so the backend fixture drops it)."""
    table = Table(
        f"{wf.backend.prefix}host_orders",
        MetaData(),
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("note", String(100), nullable=False),
        Column("item_id", Integer, nullable=True),
    )
    table.create(wf.sa)  # before any transaction: MariaDB's DDL commits implicitly
    return table


def _count(wf: Harness, table: Table) -> int:
    with wf.sa.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_host_rollback_takes_our_rows_with_it(wf: Harness, orders: Table) -> None:
    with wf.sa.connect() as conn:
        transaction = conn.begin()
        conn.execute(insert(orders).values(note="raised by the portal"))
        hosted = wf.engine.using(conn)
        item = hosted.start("enterprise_issue", ACTORS["enterprise"], START_DATA)
        item = hosted.fire(item.id, "accept", ACTORS["office"], {"lead_unit": "u_culture"})
        # Inside the transaction the host sees everything, ours and its own.
        assert hosted.get(item.id).state == "dispatched"
        assert len(hosted.history(item.id)) == 2
        assert hosted.verify(item.id) == []
        transaction.rollback()
    assert _count(wf, orders) == 0
    assert wf.engine.list() == []
    with pytest.raises(ItemNotFound):
        wf.engine.get(item.id)


def test_host_commit_keeps_both(wf: Harness, orders: Table) -> None:
    with wf.sa.connect() as conn, conn.begin():
        hosted = wf.engine.using(conn)
        item = hosted.start("enterprise_issue", ACTORS["enterprise"], START_DATA)
        conn.execute(insert(orders).values(note="raised by the portal", item_id=item.id))
        # A refusal inside the host's transaction writes nothing and leaves it usable.
        with pytest.raises(NotAuthorized):
            hosted.fire(item.id, "accept", ACTORS["unit"], {"lead_unit": "u_culture"})
        hosted.fire(item.id, "accept", ACTORS["office"], {"lead_unit": "u_culture"})
    assert _count(wf, orders) == 1
    stored = wf.engine.get(item.id)
    assert (stored.state, stored.version) == ("dispatched", 2)
    assert wf.engine.verify(item.id) == []


def _order_class(table_name: str) -> type:
    class Base(DeclarativeBase):
        pass

    class Order(Base):
        __tablename__ = table_name
        id: Mapped[int] = mapped_column(primary_key=True)
        note: Mapped[str] = mapped_column(String(100))
        item_id: Mapped[int | None] = mapped_column(nullable=True)

    return Order


def test_host_orm_session(wf: Harness, orders: Table) -> None:
    order_class = _order_class(orders.name)
    with Session(wf.sa) as session:
        order = order_class(note="kept")
        session.add(order)
        session.flush()
        item = wf.engine.using(session.connection()).start(
            "enterprise_issue", ACTORS["enterprise"], START_DATA
        )
        order.item_id = item.id
        session.commit()
    with Session(wf.sa) as session:
        session.add(order_class(note="dropped"))
        session.flush()
        dropped = wf.engine.using(session.connection()).start(
            "enterprise_issue", ACTORS["commissioner"], START_DATA
        )
        session.rollback()
    with Session(wf.sa) as session:
        notes = session.scalars(select(order_class.note)).all()  # type: ignore[attr-defined]
    assert notes == ["kept"]
    assert [i.id for i in wf.engine.list()] == [item.id]
    with pytest.raises(ItemNotFound):
        wf.engine.get(dropped.id)
    assert wf.engine.verify(item.id) == []


def test_start_after_a_rolled_back_host_transaction(wf: Harness) -> None:
    with wf.sa.connect() as conn:
        transaction = conn.begin()
        hosted = wf.engine.using(conn)
        # The first start inserts the definition row, the second sees it (in this transaction).
        hosted.start("enterprise_issue", ACTORS["enterprise"], START_DATA)
        hosted.start("enterprise_issue", ACTORS["enterprise"], START_DATA)
        transaction.rollback()
    item = wf.engine.start("enterprise_issue", ACTORS["enterprise"], START_DATA)
    assert wf.engine.get(item.id).state == "collected"
