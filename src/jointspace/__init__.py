"""jointspace: text, images and audio in one vector space, with search, classification and recommendation."""

from jointspace.align import JointSpace, align, load_space  # noqa: E402
from jointspace.collection import Collection, Hit, WriteReport  # noqa: E402
from jointspace.encoders import Encoder, encoder, load_encoder  # noqa: E402
from jointspace.encoders import available as available_encoders
from jointspace.errors import FormatError, ItemError, JointspaceError  # noqa: E402
from jointspace.readers import read_records  # noqa: E402
from jointspace.version import __version__

__all__ = [
    "Collection",
    "Encoder",
    "FormatError",
    "Hit",
    "ItemError",
    "JointSpace",
    "JointspaceError",
    "WriteReport",
    "__version__",
    "align",
    "available_encoders",
    "encoder",
    "load_encoder",
    "load_space",
    "read_records",
]
