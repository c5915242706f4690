"""The review store (SQLite event log), its migrations, and CSV export/import. No Qt."""

from pathview.store.adjudication import record_adjudication
from pathview.store.errors import SchemaError, StoreBusy, StoreError
from pathview.store.export import (
    LOG_COLUMNS,
    ConsensusRule,
    ImportResult,
    adjudication_queue,
    consensus_label,
    import_reviews,
    reviewed_labels,
    write_labels_csv,
    write_log_csv,
)
from pathview.store.reviews import (
    ADJUDICATOR,
    REVIEWER,
    PatchState,
    ReviewEvent,
    ReviewInput,
    ReviewStore,
    locate_store,
    open_store_for_folder,
    store_path_for_folder,
)
from pathview.store.schema import SCHEMA_VERSION

__all__ = [
    "ADJUDICATOR",
    "LOG_COLUMNS",
    "REVIEWER",
    "SCHEMA_VERSION",
    "ConsensusRule",
    "ImportResult",
    "PatchState",
    "ReviewEvent",
    "ReviewInput",
    "ReviewStore",
    "SchemaError",
    "StoreBusy",
    "StoreError",
    "adjudication_queue",
    "consensus_label",
    "import_reviews",
    "locate_store",
    "open_store_for_folder",
    "record_adjudication",
    "reviewed_labels",
    "store_path_for_folder",
    "write_labels_csv",
    "write_log_csv",
]
