"""The lots app's partial index for vials awaiting a position names storage's storable statuses exactly."""

from lots.models import Vial
from storage.choices import STORABLE_VIAL_STATUSES


def test_the_unplaced_index_is_storages_rule():
    index = next(i for i in Vial._meta.indexes if i.name == "lots_vial_unplaced_idx")
    condition = dict(index.condition.children)
    assert condition["box__isnull"] is True
    assert set(condition["status__in"]) == {str(s) for s in STORABLE_VIAL_STATUSES}
