"""Clinical datasets in NONMEM's layout: read (:mod:`.records`), held (:mod:`.dataset`), predicted at every record
(:mod:`.predict`) and written back with predictions (:mod:`.write`)."""

from .dataset import Dataset, EventSet
from .predict import predict
from .records import read_dataset, read_events
from .write import write_dataset

__all__ = ["Dataset", "EventSet", "predict", "read_dataset", "read_events", "write_dataset"]
